// The expert's image viewer: dwv (bundled from npm, served by this site) reading the platform's
// own DICOMweb through the web front door, one series at a time.
import { App, AppOptions, ViewConfig, ToolConfig } from "/vendor/dwv/dwv.min.js";

const holder = document.getElementById("viewer");
const urls = JSON.parse(document.getElementById("instance-urls").textContent);
const status = document.getElementById("viewer-status");
const app = new App();
const options = new AppOptions({ "*": [new ViewConfig("layerGroup0")] });
options.tools = { Scroll: new ToolConfig(), ZoomAndPan: new ToolConfig(), WindowLevel: new ToolConfig() };
app.init(options);
app.addEventListener("loadprogress", (event) => { status.textContent = holder.dataset.loading + " " + Math.round(event.loaded * 100 / event.total) + "%"; });
app.addEventListener("load", () => {
  app.setTool("Scroll");
  status.textContent = holder.dataset.loaded;
  holder.dataset.state = "loaded";
});
app.addEventListener("error", () => { status.textContent = holder.dataset.failed; holder.dataset.state = "failed"; });
document.querySelectorAll("[data-tool]").forEach((button) => {
  button.addEventListener("click", () => {
    app.setTool(button.dataset.tool);
    document.querySelectorAll("[data-tool]").forEach((b) => b.setAttribute("aria-pressed", String(b === button)));
  });
});
window.addEventListener("resize", () => app.onResize());
app.loadURLs(urls, { requestHeaders: [{ name: "Accept", value: "application/dicom" }], withCredentials: true });
