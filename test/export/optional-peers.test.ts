/**
 * prom-client and @opentelemetry/api are optional peer dependencies: checked in child processes
 * run from a temporary project that has a copy of uvscope (its lib/ and package.json) but not
 * them (fixtures/exporter-peer.js), then with them linked in, from CommonJS and ES modules.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const ROOT = path.resolve(__dirname, '..', '..');

describe('optional peer dependencies', () => {
  let project: string;

  beforeAll(() => {
    // A project with uvscope installed (its lib/ and a package.json carrying the exporter
    // subpaths) and nothing else: resolution from there cannot reach this checkout's
    // node_modules (a temporary directory is not inside it).
    project = fs.mkdtempSync(path.join(os.tmpdir(), 'uvscope-exporters-'));
    const pkg = path.join(project, 'node_modules', 'uvscope');
    fs.mkdirSync(pkg, { recursive: true });
    fs.cpSync(path.join(ROOT, 'lib'), path.join(pkg, 'lib'), { recursive: true });
    // The real package.json (its `exports` map is what is under test), without the install script.
    const manifest = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
    delete manifest.scripts;
    fs.writeFileSync(path.join(pkg, 'package.json'), JSON.stringify(manifest));
    fs.copyFileSync(path.join(__dirname, 'fixtures', 'exporter-peer.js'), path.join(project, 'exporter-peer.js'));
  });

  afterAll(() => {
    fs.rmSync(project, { recursive: true, force: true });
  });

  function run(): Record<string, unknown> {
    // This checkout's addon (the copied package has no build), unless a sanitizer run chose one.
    const addon = process.env.UVSCOPE_ADDON ?? path.join(ROOT, 'build', 'Release', 'uvscope.node');
    const env: NodeJS.ProcessEnv = { ...process.env, UVSCOPE_ADDON: addon };
    delete env.NODE_PATH;
    const result = spawnSync(process.execPath, ['exporter-peer.js'], { cwd: project, env, encoding: 'utf8' });
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    return JSON.parse(result.stdout);
  }

  test('lib/ is built from the current sources', () => {
    const sources = ['prometheus.ts', 'opentelemetry.ts', ...fs.readdirSync(path.join(ROOT, 'src', 'export')).map((f) => `export/${f}`)];
    for (const name of sources) {
      const compiled = path.join(ROOT, 'lib', name.replace(/\.ts$/, '.js'));
      expect(fs.existsSync(compiled)).toBe(true);
      expect(fs.statSync(compiled).mtimeMs).toBeGreaterThanOrEqual(fs.statSync(path.join(ROOT, 'src', name)).mtimeMs - 1000);
    }
  });

  test('without them: the core loads, each exporter throws an Error naming its package', () => {
    const result = run();
    expect(result.peers).toEqual({ 'prom-client': false, '@opentelemetry/api': false });
    expect(result.core).toBe(true);
    const prometheus = {
      message: 'uvscope/prometheus needs the optional peer dependency prom-client: npm install prom-client',
      code: 'MODULE_NOT_FOUND',
    };
    const opentelemetry = {
      message: 'uvscope/opentelemetry needs the optional peer dependency @opentelemetry/api: npm install @opentelemetry/api',
      code: 'MODULE_NOT_FOUND',
    };
    expect(result.prometheus).toEqual(prometheus);
    expect(result.prometheusEsm).toEqual(prometheus);
    expect(result.opentelemetry).toEqual(opentelemetry);
    expect(result.opentelemetryEsm).toEqual(opentelemetry);
  });

  test('with them installed: both load, from CommonJS and ES modules', () => {
    const modules = path.join(project, 'node_modules');
    fs.symlinkSync(path.join(ROOT, 'node_modules', 'prom-client'), path.join(modules, 'prom-client'), 'dir');
    fs.mkdirSync(path.join(modules, '@opentelemetry'));
    fs.symlinkSync(path.join(ROOT, 'node_modules', '@opentelemetry', 'api'), path.join(modules, '@opentelemetry', 'api'), 'dir');
    const result = run();
    expect(result.peers).toEqual({ 'prom-client': true, '@opentelemetry/api': true });
    const buckets = ['DEFAULT_JOB_BUCKETS', 'DEFAULT_LOOP_BUCKETS'];
    expect(result.prometheus).toEqual({ ok: [...buckets, 'collectDefaultUvMetrics'] });
    expect(result.prometheusEsm).toEqual({ ok: [...buckets, 'collectDefaultUvMetrics'] });
    // UvMetricProducer loads without @opentelemetry/sdk-metrics (it uses only its types).
    expect(result.opentelemetry).toEqual({ ok: [...buckets, 'UvMetricProducer', 'registerUvMetrics'] });
    expect(result.opentelemetryEsm).toEqual({ ok: [...buckets, 'UvMetricProducer', 'registerUvMetrics'] });
  });
});
