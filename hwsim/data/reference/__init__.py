"""Recorded reference data of the `hwsim validate` checks (hwsim.validation.reference_data): a package so that
setuptools ships it as one (its data-in-a-subfolder form is deprecated)."""
