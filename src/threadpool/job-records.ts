/**
 * Job records: what the pool under a ThreadPool tells of each job it ran, published. The native
 * queue calls `reportJob` (its JobReporter, set by every ThreadPool) for each job submitted
 * with JobFlag.Report, which a ThreadPool sets while JOB_CHANNEL has subscribers; `reportJob`
 * publishes it there as a {@link JobRecord}. JOB_SUBMIT_CHANNEL is told of each such job as it
 * is submitted (the request monitor counts it in flight). Lifetime: the channels are held for
 * the process.
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

/** The native queue's JobReporter: each reported job, published on JOB_CHANNEL as a JobRecord. */
export const reportJob: JobReporter = (kernel, outcome, queuedAt, startedAt, finishedAt, settledAt, thread, bytes) => {
  const ran = startedAt !== 0n;
  jobChannel.publish({
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
  } satisfies JobRecord);
};
