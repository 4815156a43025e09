"""The environment, files, processes, sockets and threads."""

import concurrent.futures
import io
import os
import socket
import subprocess
import threading
from os import environ, getenv

import continuum


class EnvIoFlow(continuum.Workflow):
    def run(self, input):
        home = os.environ["HOME"]  # expect: os.environ
        user = os.environ.get("USER")  # expect: os.environ
        shell = environ["SHELL"]  # expect: os.environ
        path = os.getenv("PATH")  # expect: os.getenv
        lang = getenv("LANG")  # expect: os.getenv
        with open(input["file"]) as handle:  # expect: builtins.open
            text = handle.read()
        raw = io.open(input["file"], "rb")  # expect: io.open
        raw.close()
        host = socket.gethostname()  # expect: socket.gethostname
        out = subprocess.run(["true"], check=False)  # expect: subprocess.run
        os.system("true")  # expect: os.system
        worker = threading.Thread(target=print)  # expect: threading.Thread
        worker.start()
        with concurrent.futures.ThreadPoolExecutor() as pool:  # expect: concurrent.futures.ThreadPoolExecutor
            pool.submit(print)
        return [home, user, shell, path, lang, text, host, out]
