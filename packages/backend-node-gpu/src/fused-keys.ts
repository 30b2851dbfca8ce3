/** The fused keys declared by `@emosens/optimizers`, one per reference optimizer (adam uses 'adamw'). */
export type FusedKey = 'emoSens' | 'emoAiry' | 'emoCats' | 'adamw';

/** Every {@link FusedKey}. */
export const FUSED_KEYS: readonly FusedKey[] = ['emoSens', 'emoAiry', 'emoCats', 'adamw'];
