"""Sensor statistics in Python, inside the enclave: pandas, scikit-learn and matplotlib on
the demo's confidential CSV (sensor, temperature, humidity, pressure).

Reads the dataset from IEXEC_IN, writes into IEXEC_OUT:
  result.json  per-sensor statistics and a linear regression of temperature on
               humidity and pressure (the deterministic output, named in computed.json)
  chart.png    mean temperature per sensor, with the regression's fit
Arguments: `--top N` lists the N warmest sensors, warmest first, in result.json (default 10).
"""
import argparse
import json
import os
import sys
import time

import matplotlib

matplotlib.use("Agg")  # no display in an enclave: render straight to PNG

import matplotlib.pyplot as plt
import pandas as pd
from sklearn.linear_model import LinearRegression

IEXEC_IN = os.environ.get("IEXEC_IN", "/iexec_in")
IEXEC_OUT = os.environ.get("IEXEC_OUT", "/iexec_out")


def load():
    name = os.environ.get("IEXEC_DATASET_FILENAME")
    if not name:
        sys.exit("no dataset: run this app with --dataset")
    return pd.read_csv(os.path.join(IEXEC_IN, name))


def statistics(frame, top):
    per_sensor = frame.groupby("sensor").agg(
        readings=("temperature", "size"),
        temperature_mean=("temperature", "mean"),
        temperature_std=("temperature", "std"),
        humidity_mean=("humidity", "mean"),
        pressure_mean=("pressure", "mean"),
    )
    warmest = per_sensor.sort_values("temperature_mean", ascending=False).head(top)
    features = frame[["humidity", "pressure"]]
    model = LinearRegression().fit(features, frame["temperature"])
    return per_sensor, {
        "rows": int(len(frame)),
        "sensors": int(per_sensor.shape[0]),
        "temperature": {
            "mean": round(float(frame["temperature"].mean()), 4),
            "min": float(frame["temperature"].min()),
            "max": float(frame["temperature"].max()),
        },
        "warmest": [
            {"sensor": sensor, "temperature_mean": round(float(row.temperature_mean), 4)}
            for sensor, row in warmest.iterrows()
        ],
        "regression": {
            "target": "temperature",
            "features": ["humidity", "pressure"],
            "coefficients": [round(float(c), 6) for c in model.coef_],
            "intercept": round(float(model.intercept_), 6),
            "r2": round(float(model.score(features, frame["temperature"])), 6),
        },
    }


def chart(per_sensor, path):
    ordered = per_sensor.sort_values("temperature_mean")
    figure, axis = plt.subplots(figsize=(10, 4), dpi=100)
    axis.plot(range(len(ordered)), ordered["temperature_mean"], linewidth=1)
    axis.fill_between(
        range(len(ordered)),
        ordered["temperature_mean"] - ordered["temperature_std"],
        ordered["temperature_mean"] + ordered["temperature_std"],
        alpha=0.25,
    )
    axis.set_title(f"Mean temperature of {len(ordered)} sensors (± one standard deviation)")
    axis.set_xlabel("sensors, coolest to warmest")
    axis.set_ylabel("°C")
    figure.tight_layout()
    figure.savefig(path, format="png")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--top", type=int, default=10)
    args = parser.parse_args()
    started = time.monotonic()
    frame = load()
    print(f"read {len(frame)} rows in {time.monotonic() - started:.2f} s")
    per_sensor, result = statistics(frame, args.top)
    chart(per_sensor, os.path.join(IEXEC_OUT, "chart.png"))
    path = os.path.join(IEXEC_OUT, "result.json")
    with open(path, "w") as f:
        json.dump(result, f, indent=2, sort_keys=True)
    with open(os.path.join(IEXEC_OUT, "computed.json"), "w") as f:
        json.dump({"deterministic-output-path": path}, f)
    print(f"{result['sensors']} sensors, r2 {result['regression']['r2']}, done in {time.monotonic() - started:.2f} s")


if __name__ == "__main__":
    main()
