"""Deterministic data for benchmarks.

A benchmark subclasses DataGenerator and yields rows; the same seed gives the
same rows on every machine, so two runs measure the same work."""
import random
import string


class DataGenerator:
    "Base of the benchmark data generators"
    seed = 42

    def __init__(self, size, seed=None):
        self.size = size
        self.random = random.Random(self.seed if seed is None else seed)

    def __iter__(self):
        for index in range(self.size):
            yield self.row(index)

    def __len__(self):
        return self.size

    def row(self, index):
        "Return the row number index"
        raise NotImplementedError

    def word(self, length=8):
        return ''.join(
            self.random.choices(string.ascii_lowercase, k=length))

    def name(self):
        return f"{self.word(6).title()} {self.word(9).title()}"

    def email(self, name=None):
        local = (name or self.word()).lower().replace(' ', '.')
        return f"{local}@{self.word(6)}.example"

    def phone(self):
        "A valid-looking Bulgarian number in E.164"
        return '+3592' + ''.join(self.random.choices(string.digits, k=7))

    def choice(self, values):
        return self.random.choice(values)

    def batches(self, size):
        "The rows in lists of at most size"
        batch = []
        for row in self:
            batch.append(row)
            if len(batch) >= size:
                yield batch
                batch = []
        if batch:
            yield batch
