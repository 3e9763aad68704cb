"""Metrics of explanations in Quantus's call convention, with plain functional forms beside each class.

Complexity (:mod:`.complexity`): Expected Frequency, high-frequency mass, radial spectra of the maps.
Faithfulness (:mod:`.faithfulness`): pixel flipping (deletion/insertion, MoRF/LeRF), ROAD, faithfulness
correlation, infidelity, on a JAX model. Every class has ``score_direction`` ("lower"/"higher" is better).
"""

from specxai_jax.metrics.complexity import (
                                            ExpectedFrequency,
                                            HighFrequencyMass,
                                            RadialSpectrum,
                                            expected_frequency_scores,
                                            high_frequency_mass,
                                            radial_spectra,
)
from specxai_jax.metrics.faithfulness import (
                                            ROAD,
                                            Deletion,
                                            FaithfulnessCorrelation,
                                            Infidelity,
                                            Insertion,
                                            curve_auc,
                                            faithfulness_correlation,
                                            flipping_fractions,
                                            infidelity,
                                            noisy_linear_imputation,
                                            pixel_flipping_auc,
                                            pixel_flipping_curves,
                                            random_subsets,
                                            road_curves,
)

__all__ = ["ROAD", "Deletion", "ExpectedFrequency", "FaithfulnessCorrelation", "HighFrequencyMass", "Infidelity",
           "Insertion", "RadialSpectrum", "curve_auc", "expected_frequency_scores", "faithfulness_correlation",
           "flipping_fractions", "high_frequency_mass", "infidelity", "noisy_linear_imputation",
           "pixel_flipping_auc", "pixel_flipping_curves", "radial_spectra", "random_subsets", "road_curves"]
