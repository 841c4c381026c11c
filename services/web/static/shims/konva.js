export default window.Konva; // konva.min.js (UMD) is loaded first by a classic script
