import { access, constants } from 'node:fs/promises';
import { delimiter, join } from 'node:path';

/** Whether `command` is an executable file in one of PATH's directories. */
export async function onPath(command: string, path: string | undefined): Promise<boolean> {
  for (const dir of (path ?? '').split(delimiter)) {
    if (dir === '') continue;
    try {
      await access(join(dir, command), constants.X_OK);
      return true;
    } catch {
      // not here
    }
  }
  return false;
}
