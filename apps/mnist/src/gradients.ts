/**
 * tfjs-core alone registers no gradient functions (the `@tensorflow/tfjs` union
 * package does it, through an ESM-only file that Node cannot load from
 * tfjs-core's CommonJS build). The Node build of `@tensorflow/tfjs-layers` registers
 * the full set of core gradients in tfjs's global registry when it loads, so this
 * side-effect import is what makes `tf.variableGrads` work here.
 */
import '@tensorflow/tfjs-layers';
