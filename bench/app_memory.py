"""Measures the tray app's memory: PSS and RSS of every process of the app (the main
process and the WebKit processes it spawns) with the settings window open, then after the
window is closed (destroyed). Run through bench/app-memory.sh (private D-Bus + Xvfb)."""

import os
import socket
import subprocess
import sys
import time

from selenium import webdriver
from selenium.webdriver.common.options import ArgOptions
from selenium.webdriver.support.ui import WebDriverWait

APP = os.environ["SOCKSBRIDGE_APP"]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def app_pids():
    """The app and every descendant (WebKitWebProcess, WebKitNetworkProcess)."""
    out = subprocess.run(["ps", "-eo", "pid=,ppid=,comm="], capture_output=True, text=True).stdout
    rows = [line.split(None, 2) for line in out.splitlines()]
    children = {}
    comm = {}
    for pid, ppid, name in rows:
        children.setdefault(ppid, []).append(pid)
        comm[pid] = name
    roots = [pid for pid, name in comm.items() if name.startswith("socksbridge-ap")]
    found, stack = [], list(roots)
    while stack:
        pid = stack.pop()
        found.append(pid)
        stack.extend(children.get(pid, []))
    return [(pid, comm[pid]) for pid in found]


def mem(pid):
    values = {}
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                key, _, rest = line.partition(":")
                if key in ("Rss", "Pss"):
                    values[key] = int(rest.split()[0])
    except OSError:
        pass
    return values.get("Rss", 0) // 1024, values.get("Pss", 0) // 1024


def report(label):
    total_rss = total_pss = 0
    parts = []
    for pid, name in app_pids():
        rss, pss = mem(pid)
        total_rss += rss
        total_pss += pss
        parts.append(f"{name} {rss}/{pss}")
    print(f"{label}: {total_pss} MiB PSS, {total_rss} MiB RSS ({'; '.join(parts)}; RSS/PSS MiB)")


def main():
    port = free_port()
    driver_proc = subprocess.Popen(["tauri-driver", "--port", str(port), "--native-port", str(free_port())],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(1)
        options = ArgOptions()
        options.set_capability("browserName", "wry")
        options.set_capability("tauri:options", {"application": APP, "args": ["--settings"]})
        driver = webdriver.Remote(command_executor=f"http://127.0.0.1:{port}", options=options)
        WebDriverWait(driver, 30).until(lambda d: d.execute_script("return document.body.dataset.ready") == "true")
        time.sleep(3)
        report("window open  ")
        # What Escape does in the window: the app destroys it and stays in the tray.
        try:
            driver.execute_script("window.__TAURI__.core.invoke('close_window')")
        except Exception:
            pass  # the window, and with it the WebDriver session, is gone
        time.sleep(5)
        report("window closed")
        try:
            driver.quit()
        except Exception:
            pass
    finally:
        subprocess.run(["pkill", "-TERM", "-f", APP], check=False)
        driver_proc.terminate()
        driver_proc.wait(5)


if __name__ == "__main__":
    sys.exit(main())
