export {
  trackEmotion,
  type EmotionState,
  type TrackEmotionOptions,
} from './track-emotion.js';
export { fixedEmotion } from './fixed-emotion.js';
export { trackEmotionV3, type EmotionV3State } from './track-emotion-v3.js';
export { emoPulse, type EmoPulseOptions, type EmoPulseState } from './emo-pulse.js';
