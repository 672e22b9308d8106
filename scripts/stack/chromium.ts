// Debian's chromium, which playwright-core drives in the browser tests: found on the machine, else installed with apt-get (never a Playwright browser download).
import { findExecutable } from './executables';
import { runCommand } from './processes';

/** The chromium executable on PATH or in /usr/bin, if any. */
export const findChromium = (): string | undefined => findExecutable('chromium', ['/usr/bin']);

/** The path of the chromium executable, installed from Debian's `chromium` package when missing. */
export async function ensureChromiumInstalled(): Promise<string> {
  let executable = findChromium();
  if (!executable) {
    console.log("[stack] Chromium is not installed: installing Debian's chromium with apt-get (once)…");
    const sudo = process.getuid?.() === 0 ? [] : ['sudo'];
    const [command, ...prefix] = [...sudo, 'env', 'DEBIAN_FRONTEND=noninteractive', 'apt-get'];
    await runCommand(command, [...prefix, 'update'], { echo: true });
    await runCommand(command, [...prefix, 'install', '-y', 'chromium'], { echo: true });
    executable = findChromium();
  }
  if (!executable) throw new Error('the chromium package was installed but there is still no chromium on PATH or in /usr/bin');
  return executable;
}
