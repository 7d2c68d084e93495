/** JSON.parse, with the caller's own error for text that is not JSON (what it is, and what to do). */
export function parseJson(text: string, notJson: () => Error): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw notJson();
  }
}
