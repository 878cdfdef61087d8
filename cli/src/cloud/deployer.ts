/** The toolkit-lib adapter (filled in with issue 6). */
export class ToolkitDeployer {}
