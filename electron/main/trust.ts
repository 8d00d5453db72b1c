// What the main process trusts: IPC only from the main frame of the Partwise
// window while it shows our own app:// page; navigation only within app://;
// external links only from an allowlist (empty for now).

export const APP_SCHEME = 'app';
export const APP_HOST = 'partwise';
export const APP_ORIGIN = `${APP_SCHEME}://${APP_HOST}`;
export const APP_START_URL = `${APP_ORIGIN}/index.html`;

/** Sites `shell.openExternal` may open, by origin (https only). None are needed yet. */
export const EXTERNAL_ORIGINS: readonly string[] = [];

export function isAppUrl(url: string | undefined): boolean {
  if (!url) return false;
  try {
    const parsed = new URL(url);
    return (
      parsed.protocol === `${APP_SCHEME}:` &&
      parsed.host === APP_HOST &&
      parsed.username === '' &&
      parsed.password === ''
    );
  } catch {
    return false;
  }
}

export function isAllowedExternal(url: string, allowlist: readonly string[] = EXTERNAL_ORIGINS): boolean {
  try {
    const parsed = new URL(url);
    return parsed.protocol === 'https:' && allowlist.includes(parsed.origin);
  } catch {
    return false;
  }
}

/** What an IPC event says about who sent it (from event.sender and event.senderFrame). */
export interface SenderInfo {
  webContentsId: number;
  /** undefined when the frame has navigated away or been destroyed. */
  frameUrl: string | undefined;
  isMainFrame: boolean;
}

export function isTrustedSender(sender: SenderInfo, trustedWebContentsId: number | undefined): boolean {
  return (
    trustedWebContentsId !== undefined &&
    sender.webContentsId === trustedWebContentsId &&
    sender.isMainFrame &&
    isAppUrl(sender.frameUrl)
  );
}
