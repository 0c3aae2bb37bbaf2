/**
 * Job records: what the pool under a ThreadPool tells of each job it ran, published. The native
 * queue calls `reportJob` (its JobReporter, set by every ThreadPool) for each job submitted
 * with JobFlag.Report, which a ThreadPool sets while JOB_CHANNEL has subscribers; `reportJob`
 * publishes it there as a {@link JobRecord}. JOB_SUBMIT_CHANNEL is told of each such job as it
 * is submitted (the request monitor counts it in flight). A job submitted for an HTTP request
 * (http-request-context.ts) is tagged with it under its cancel id, which the native queue hands
 * back with the report (`tagJob`). Lifetime: the channels and the tags are held for the thread.
 * @module
 */
import diagnosticsChannel from 'node:diagnostics_channel';

import { JOB_CHANNEL, JOB_SUBMIT_CHANNEL, JobRecord } from '../channels';
import { JobReporter, KERNEL_NAMES } from '../native';
import { OUTCOMES } from './job-stats';

/** JOB_CHANNEL: a ThreadPool asks for reports (JobFlag.Report) only while it has subscribers. */
export const jobChannel = diagnosticsChannel.channel(JOB_CHANNEL);
/** JOB_SUBMIT_CHANNEL: published by a ThreadPool for each job it submits with JobFlag.Report. */
export const jobSubmitChannel = diagnosticsChannel.channel(JOB_SUBMIT_CHANNEL);

/** The HTTP request each reported job in flight was submitted for, by its cancel id (tagJob), oldest first. */
const httpRequestByJob = new Map<number, number>();
/**
 * Tags kept at most. A job that never reached the native queue (a lane refused it, or it was
 * aborted while it waited in the lane) is never reported and leaves its tag behind: past this
 * many the oldest go. (Forgetting on the promise's settlement instead would mark a rejection
 * the caller left unhandled as handled while requests are tracked.)
 */
const MAX_TAGGED_JOBS = 65_536;

/** The reported job with cancel id `cancelId` was submitted for HTTP request `httpRequestId`: its record will say so. */
export function tagJob(cancelId: number, httpRequestId: number): void {
  if (httpRequestByJob.size >= MAX_TAGGED_JOBS) httpRequestByJob.delete(httpRequestByJob.keys().next().value!);
  httpRequestByJob.set(cancelId, httpRequestId);
}

/** The native queue's JobReporter: each reported job, published on JOB_CHANNEL as a JobRecord. */
export const reportJob: JobReporter = (kernel, outcome, queuedAt, startedAt, finishedAt, settledAt, thread, bytes, cancelId) => {
  const ran = startedAt !== 0n;
  const record: JobRecord = {
    kernel: KERNEL_NAMES[kernel],
    outcome: OUTCOMES[outcome],
    queuedAt,
    startedAt,
    finishedAt,
    settledAt,
    queueWaitNs: ran ? Number(startedAt - queuedAt) : 0,
    runNs: ran ? Number(finishedAt - startedAt) : 0,
    returnDelayNs: ran ? Number(settledAt - finishedAt) : 0,
    thread,
    bytes,
  };
  const httpRequestId = cancelId === 0 || httpRequestByJob.size === 0 ? undefined : httpRequestByJob.get(cancelId);
  if (httpRequestId !== undefined) {
    httpRequestByJob.delete(cancelId);
    record.httpRequestId = httpRequestId;
  }
  jobChannel.publish(record);
};
