/** Why an emosens call refused its input. */
export type EmosensErrorCode =
  | 'UNKNOWN_PARAMETER'
  | 'MISSING_GRADIENT'
  | 'SHAPE_MISMATCH'
  | 'DTYPE_MISMATCH'
  | 'NON_FLOAT_PARAMETER'
  | 'MISSING_LOSS'
  | 'INVALID_LOSS'
  | 'MISSING_SIGNAL'
  | 'DUPLICATE_SIGNAL'
  | 'INVALID_OPTION'
  | 'INVALID_STATE'
  | 'NON_FINITE'
  | 'MISSING_DEPENDENCY'
  | 'DISPOSED'
  | 'INVALID_ARGUMENT';

/**
 * The one error class of emosens. `code` says what kind of input was refused; the
 * message names the parameter, option or block and what was expected.
 */
export class EmosensError extends Error {
  override readonly name = 'EmosensError';
  readonly code: EmosensErrorCode;

  constructor(code: EmosensErrorCode, message: string) {
    super(message);
    this.code = code;
  }
}
