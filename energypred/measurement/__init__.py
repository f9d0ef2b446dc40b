"""Measuring energy: meters (CodeCarbon, a fake for tests), the protocol, the workloads."""

from energypred.measurement.meter import CodeCarbonMeter, FakeMeter, Meter, Methods, Reading
from energypred.measurement.protocol import Measurement, idle_power, measure

__all__ = ["CodeCarbonMeter", "FakeMeter", "Meter", "Methods", "Reading", "Measurement",
           "idle_power", "measure"]
