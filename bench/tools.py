"""What benchmarks return and use to measure."""
import dataclasses
import json
import time


@dataclasses.dataclass
class Result:
    name: str
    figure: float
    unit: str
    baseline: float | None = None
    better: str = 'lower'       # 'lower' for durations, 'higher' for rates
    target: float | None = None
    detail: dict = dataclasses.field(default_factory=dict)
    #: whether the work measured gave the right result (None: not checked);
    #: a target is met only with a right result
    correct: bool | None = None
    check: str = ''   # what was checked, in words

    def as_json(self):
        line = {
            'benchmark': self.name,
            'figure': round(self.figure, 6),
            'unit': self.unit,
            'better': self.better,
            }
        if self.baseline:
            line['baseline'] = round(self.baseline, 6)
            line['ratio'] = round(self.figure / self.baseline, 3)
        if self.correct is not None:
            line['correct'] = self.correct
            line['check'] = self.check
        if self.target is not None:
            line['target'] = self.target
            line['met'] = (self.figure <= self.target
                if self.better == 'lower' else self.figure >= self.target
                ) and self.correct is not False
        line.update(self.detail)
        return json.dumps(line, ensure_ascii=False)


class Timer:
    "Context manager measuring wall-clock seconds"

    def __enter__(self):
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self.start
