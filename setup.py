"""Packages: everything under hwsim/ and rtl/, plus the model zoo (models/ in the repository) shipped as
the package ``hwsim.zoo``. Metadata lives in pyproject.toml."""
from setuptools import find_packages, setup

setup(
    packages=find_packages(include=["hwsim", "hwsim.*", "rtl", "rtl.*"]) + ["hwsim.zoo"],
    package_dir={"hwsim.zoo": "models"},
)
