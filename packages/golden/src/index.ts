/// <reference types="@emosens/emotion" preserve="true" />
export { GoldenFormatError, parseCase, type GoldenCase, type GoldenHyper, type GoldenStep } from './format.js';
export {
  describeResult,
  familyOf,
  optimizerFor,
  runCase,
  transformFor,
  type CaseResult,
  type Family,
  type Mismatch,
  type RunCaseOptions,
} from './run-case.js';
export { listCaseFiles, loadCase, runDirectory, type DirectoryReport, type LoadedCase } from './run-directory.js';
export { findGoldenDir, GOLDEN_SUITES } from './find-golden-dir.js';
export { scheduleFromTorch, type TorchScheduleSpec } from './torch-schedule.js';
export { findStateLeaf, isTorchPeerCase, TORCH_CLASSES, torchPeerTransform, torchStateLeaf } from './torch-peers.js';
export { EMO_V3_CLASSES, emoV3StateLeaf, emoV3Transform, isEmoV3Case } from './emo-v3.js';
