export default window.JSZip; // jszip.min.js (UMD) is loaded first by a classic script
