"""Well-known HTTP clients. Only parsed: these packages need not be installed."""

import urllib.request
from urllib.request import urlopen

import aiohttp
import httpx
import requests
from requests import Session

import continuum


class HttpFlow(continuum.Workflow):
    def run(self, input):
        a = requests.get(input["url"])  # expect: requests.get
        b = httpx.post(input["url"], json={})  # expect: httpx.post
        with httpx.Client() as client:  # expect: httpx.Client
            c = client.get(input["url"])
        d = urllib.request.urlopen(input["url"])  # expect: urllib.request.urlopen
        e = urlopen(input["url"])  # expect: urllib.request.urlopen
        f = Session()  # expect: requests.Session
        try:
            g = requests.get(input["url"], timeout=5)  # expect: requests.get
        except requests.RequestException:  # an exception class named, not a call
            g = None
        return [a, b, c, d, e, f, g]


class AsyncHttpFlow(continuum.Workflow):
    async def run(self, input):
        async with aiohttp.ClientSession() as session:  # expect: aiohttp.ClientSession
            async with session.get(input["url"]) as response:
                return await response.json()
