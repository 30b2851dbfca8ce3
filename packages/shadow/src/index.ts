/// <reference types="@emosens/emotion" preserve="true" />
export { shadowRatio, withShadow, type ShadowOptions, type ShadowSlot, type ShadowState } from './with-shadow.js';
