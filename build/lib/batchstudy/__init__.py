"""batch-size-study: how the training batch size changes neural-network training.

The package holds the study's logic; the Snakemake workflow only calls it. Importing the
package (or any module but `training` and the engines in `engines`) never imports TensorFlow.
"""

__version__ = "0.1.0"
