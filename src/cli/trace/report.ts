/**
 * `uvscope report <trace.json> [--html FILE]`: the summary (and the HTML report, with its flame
 * graphs) of a trace file written earlier: by `uvscope trace`, `uvscope trace --attach`, a
 * flight recorder's dump or `--require uvscope/register`. The file is read line by line (any
 * other JSON trace whole) and folded into the same model `uvscope trace` prints from.
 * @internal
 * @module
 */
import fs from 'node:fs';
import path from 'node:path';

import { parseArgs, stringOption, UsageError } from '../common/args';
import { TraceAnalysis } from '../../trace/analysis';
import { openTrace } from '../../trace/trace-reader';
import { formatSummary } from '../../trace/summary';
import { renderTraceHtml } from './html';
import { ProfileEventKeeper } from './profile-keeper';

export const REPORT_USAGE = `usage: uvscope report <trace.json> [--html FILE]

Prints the summary of a uvscope trace file (from uvscope trace, uvscope trace --attach, a
flight recorder's dump, or node --require uvscope/register) on stderr: long iterations with
their phase split and top functions, stalls, the slowest HTTP requests, pool requests and
threads. --html also writes the self-contained report: timeline, flame graphs of the whole
run and of each long iteration and stall.

  --html FILE       write the HTML report`;

export function reportCommand(argv: string[]): number {
  const { options, positionals, rest } = parseArgs(argv, ['html'], ['help']);
  if (options.has('help')) {
    process.stdout.write(`${REPORT_USAGE}\n`);
    return 0;
  }
  const files = [...positionals, ...rest];
  if (files.length !== 1) throw new UsageError(files.length ? `one trace file, got ${files.length}` : 'missing the trace file (uvscope report trace.json)');
  const file = path.resolve(files[0]);
  const htmlOption = stringOption('html', options.get('html'));
  const source = openTrace(file);
  const section = source.uvscope ?? { blockMs: 20, processes: [] };
  const analysis = new TraceAnalysis({ blockMs: section.blockMs });
  analysis.addProcesses(section.processes ?? []);
  const profiles = new ProfileEventKeeper();
  let events = 0;
  if (source.layout === 'lines') {
    for (const line of source.eventLines()) {
      events++;
      const event = analysis.addLine(line);
      if (event) profiles.add(event);
    }
  } else {
    for (const event of source.events()) {
      events++;
      analysis.add(event);
      profiles.add(event);
    }
  }
  const trace = { traceEvents: profiles.events, uvscope: section };
  const model = analysis.finish(section);
  process.stderr.write(`${formatSummary(trace, model)}\ntrace: ${file} (${events} events)\n`);
  if (htmlOption !== undefined) {
    const html = path.resolve(htmlOption);
    fs.writeFileSync(html, renderTraceHtml(trace, model));
    process.stderr.write(`report: ${html}${profiles.leftOutNote()}\n`);
  }
  return 0;
}
