"""Randomness and ids."""

import os
import random
import secrets
import uuid
from random import choice
from random import random as rnd
from uuid import uuid4

import continuum


class RandomFlow(continuum.Workflow):
    def run(self, input):
        a = random.random()  # expect: random.random
        b = random.randint(1, 6)  # expect: random.randint
        c = choice(input)  # expect: random.choice
        d = rnd()  # expect: random.random
        rng = random.Random()  # expect: random.Random
        random.shuffle(input)  # expect: random.shuffle
        e = uuid.uuid4()  # expect: uuid.uuid4
        f = uuid4()  # expect: uuid.uuid4
        g = uuid.uuid1()  # expect: uuid.uuid1
        h = secrets.token_hex(8)  # expect: secrets.token_hex
        i = os.urandom(16)  # expect: os.urandom
        return [a, b, c, d, rng, e, f, g, h, i, self.pick(input)]

    def pick(self, items):
        return random.choice(items)  # expect: random.choice
