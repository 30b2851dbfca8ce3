export { StopOnCalm, stopOnCalm, type CalmStop, type StopOnCalmOptions } from './stop-on-calm.js';
export { EmotionLogs, emotionLogs, type EmotionLogsOptions } from './emotion-logs.js';
export type { FitLogs } from './signals.js';
