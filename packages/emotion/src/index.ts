export {
  trackEmotion,
  type EmotionState,
  type TrackEmotionOptions,
} from './track-emotion.js';
export { fixedEmotion } from './fixed-emotion.js';
