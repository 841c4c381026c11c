export default window.MagicWand; // magic-wand.min.js (UMD) is loaded first
