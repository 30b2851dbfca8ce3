export {
  calmSignal,
  emotionScalar,
  trackEmotion,
  type EmotionState,
  type TrackEmotionOptions,
} from './track-emotion.js';
