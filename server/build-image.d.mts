/** Types of build-image.mjs (for the templates tests, which build the image context into a temporary folder). */
export declare const IMAGE_DIR: string;
export declare const APP_DIR: string;
/** The bundle's file name inside app/ (the Dockerfile's CMD runs /app/ENTRY). */
export declare const ENTRY: string;
/**
 * Builds the bundled node into `outdir` (default image/app); resolves the bundle's path, the files
 * esbuild read, and the imports left to run time (node builtins and optional modules), sorted.
 */
export declare function buildImageContext(outdir?: string): Promise<{ file: string; inputs: string[]; external: string[] }>;
