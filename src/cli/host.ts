import { hostname, userInfo } from 'node:os';
import type { RunHost } from '../apply/lock.js';

/** This machine and process, as the lock names its holder and judges a holder on the same host. */
export function thisHost(): RunHost {
  let user = 'unknown';
  try {
    user = userInfo().username;
  } catch {
    // no passwd entry (some containers): keep 'unknown'
  }
  return {
    hostname: hostname(),
    user,
    pid: process.pid,
    isAlive: (pid) => {
      try {
        process.kill(pid, 0);
        return true;
      } catch (error) {
        // EPERM: it exists, owned by someone else.
        return (error as NodeJS.ErrnoException).code !== 'ESRCH';
      }
    },
  };
}
