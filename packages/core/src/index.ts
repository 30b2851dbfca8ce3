export type {
  GradientTransformation,
  Loss,
  Params,
  SignalName,
  Signals,
  StateOf,
  StateValue,
  StepContext,
  TensorMap,
  UpdateResult,
  Updates,
} from './types.js';
export { EmosensError, type EmosensErrorCode } from './errors.js';
export { createStepContext, validateLoss } from './context.js';
export { check, validateGradients, validateParams, type ValidateGradientsOptions } from './validate.js';
export { describeValue } from './internal/is-tensor.js';
export { chain, type ChainState, type NamedChainState, type TransformList, type TransformRecord } from './chain.js';
export { elementwise, identity, stateless, type EmptyState } from './stateless.js';
export { partition, type PartitionState } from './partition.js';
export { initPerParameter, updatePerParameter, type PerParameter } from './per-parameter.js';
export { applyUpdates } from './apply-updates.js';
export { allFinite, isAllFinite, selectWhere } from './finite-guard.js';
export { applyStep, type ApplyStepOptions, type ApplyStepResult, type StepPath } from './apply-step.js';
export { runTransform, type RunStepOptions, type RunStepResult } from './run-step.js';
export { StepEngine, mergeState, type NonFinitePolicy, type StepEngineOptions } from './step-engine.js';
export {
  StatefulOptimizer,
  statefulOptimizer,
  type StatefulOptimizerOptions,
  type StepOptions,
} from './stateful-optimizer.js';
export {
  checkStateLayout,
  collectTensors,
  disposeReplaced,
  disposeState,
  findNaNLeaf,
  flattenState,
  isTensor,
  unflattenState,
  type StateLeaf,
} from './state-tree.js';
export {
  fx,
  isLeafRef,
  isSym,
  FusionDecline,
  Graph,
  type BinaryOp,
  type Domain,
  type LeafInfo,
  type LeafRef,
  type Node,
  type NodeDef,
  type ParamInfo,
  type ReduceOp,
  type Sym,
  type SymLike,
  type UnaryOp,
  type Where,
} from './fusion/graph.js';
export {
  combineFusion,
  fusionBlocker,
  innerForm,
  isFusionForm,
  type Fusion,
  type FusionContext,
  type FusionForm,
  type SymMap,
  type SymTree,
} from './fusion/form.js';
export { traceStep, type TracedParam, type TracedSignal, type TracedStep, type TraceResult } from './fusion/trace.js';
export { argsOf, isElemReduction, scheduleStep, type ElementPass, type ParamSweep, type Schedule, type Sweep } from './fusion/schedule.js';
export {
  findFusionTarget,
  registerFusionTarget,
  type FusionRunOptions,
  type FusionRunResult,
  type FusionTarget,
} from './fusion/target.js';
export { explainFusion, type ExplainStep, type FusionExplanation } from './fusion/explain.js';
export { composedUpdate } from './fusion/composed.js';
export { dropUnusedLines, findPowThreshold, type PowThreshold } from './fusion/patterns.js';
export { evaluateGraph, type GraphBindings } from './fusion/evaluate.js';
