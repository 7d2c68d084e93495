/** The documented exit codes (README, "Exit codes"). */
export const ExitCode = {
  Success: 0,
  Error: 1,
  ChangesPending: 2,
  Locked: 3,
  StepFailed: 4,
  NeedsPerson: 5,
  Interrupted: 130,
} as const;

export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];
