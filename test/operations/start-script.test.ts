import { startScriptNodeArgs } from '../../bench/start-script';

describe('npm start and the benchmark start the server the same way', () => {
  it("reads npm start's Node arguments from package.json (the heap limit production runs with)", () => {
    expect(startScriptNodeArgs()).toEqual(['--max-old-space-size=512']);
  });

  it('reads any flags and none', () => {
    expect(startScriptNodeArgs('node dist/src/main.js')).toEqual([]);
    expect(startScriptNodeArgs('node --a=1  --b dist/src/main.js')).toEqual(['--a=1', '--b']);
  });

  it('refuses a start script of another shape instead of benchmarking something else', () => {
    for (const script of [
      '',
      'ts-node src/main.ts',
      'node dist/src/main.js --port 1',
      'node -r x dist/src/main.js',
    ]) {
      expect(() => startScriptNodeArgs(script)).toThrow(/start script should be/);
    }
  });
});
