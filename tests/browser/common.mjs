// What the browser tests share: how Debian's chromium is started and how their arguments are
// read (`--name value` pairs, as run_browser_test.sh passes them).

export const CHROMIUM = '/usr/bin/chromium';
export const CHROMIUM_FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'];

// The `--name value` pairs of `argv` (process.argv) as an object; every name in `required` must be
// given.
export function parseArgs(argv, required) {
  const args = {};
  for (let idx = 2; idx < argv.length; idx += 2) {
    if (!argv[idx].startsWith('--') || idx + 1 >= argv.length) throw new Error('bad argument ' + argv[idx]);
    args[argv[idx].slice(2)] = argv[idx + 1];
  }
  for (const name of required) {
    if (!args[name]) throw new Error('missing --' + name);
  }
  return args;
}
