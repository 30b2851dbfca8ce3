/// <reference types="@emosens/emotion" preserve="true" />
export { withShadow, type ShadowOptions, type ShadowSlot, type ShadowState } from './with-shadow.js';
