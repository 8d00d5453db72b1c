// Where Partwise keeps its files when no Electron `app.getPath('userData')` is
// at hand (the browser bridge): the same folder Electron would pick for an app
// named "partwise", so both shells share profiles and the Sandbox.
import os from 'node:os';
import path from 'node:path';

export const APP_FOLDER = 'partwise';

export function defaultDataDir(
  env: NodeJS.ProcessEnv = process.env,
  platform: NodeJS.Platform = process.platform,
  home: string = os.homedir(),
): string {
  if (env.PARTWISE_DATA_DIR) return path.resolve(env.PARTWISE_DATA_DIR);
  if (platform === 'win32') return path.join(env.APPDATA ?? path.join(home, 'AppData', 'Roaming'), APP_FOLDER);
  if (platform === 'darwin') return path.join(home, 'Library', 'Application Support', APP_FOLDER);
  return path.join(env.XDG_CONFIG_HOME || path.join(home, '.config'), APP_FOLDER);
}
