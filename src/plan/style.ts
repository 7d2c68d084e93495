/** Text decorations; the CLI passes chalk's when colour is on, renderers stay pure. */
export interface Style {
  bold(text: string): string;
  dim(text: string): string;
  added(text: string): string;
  removed(text: string): string;
  warn(text: string): string;
  error(text: string): string;
}

const same = (text: string): string => text;
export const plainStyle: Style = { bold: same, dim: same, added: same, removed: same, warn: same, error: same };
