/** The dashboard's entry: mounts the app on `#app`. */
import { render } from "preact";
import { App } from "./app.js";
import "./app.css";

render(<App />, document.getElementById("app")!);
