/**
 * The fused-kernel keys of the emosens optimizers (their `fused.key`), one constant per
 * kernel as tfjs names its kernels. `adam` is `adamw` with weight decay 0.
 */
export const EMO_SENS = 'emoSens';
export const EMO_AIRY = 'emoAiry';
export const EMO_CATS = 'emoCats';
export const ADAMW = 'adamw';

/** The backend these kernels run on. */
export const CPU_BACKEND = 'cpu';
