"""``bl.compile``: a step function's graph recorded once, then replayed, forward and backward, on new values.

The replay is the recorded :class:`~backproplab.engine.tape.Tape` written out as code
(``backproplab.engine.codegen``), or, for a graph too long for that, its programs run op by op.
The step that records the graph runs ``autodiff.gradients``, the backward pass ``loss.backward()``
runs; the generated code does the same sums in the same order, so every step gives the same bits.
A function that runs its own backward pass and optimizer step is replayed whole (``engine.fused``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from backproplab.engine.autodiff import gradients, seed_for, store
from backproplab.engine.codegen import make_program
from backproplab.engine.fused import StepPlan, plan_of
from backproplab.engine.grad_mode import is_grad_enabled
from backproplab.engine.recording import STEPS
from backproplab.engine.tape import Tape
from backproplab.engine.tensor import Tensor
from backproplab.engine.tensor_methods import RECORDING


class Compiled:
    """A step function recorded once and replayed: see :func:`compile`."""

    def __init__(self, fn: Callable[[], Tensor]) -> None:
        self.fn = fn
        self.tape: Tape | None = None
        self._last: Tensor | None = None
        self.records = 0  # how many times the graph was (re)recorded
        self.program: Any = None  # the tape as generated code (backproplab.engine.codegen), made at the first replay
        self.replayable = True  # False when the graph holds a mask or index taken from values that change
        self.plan: StepPlan | None = None  # what fn runs itself besides the forward pass (engine.fused)
        self._ran = False  # whether the last forward() ran fn, and with it fn's own backward and step

    def forward(self) -> Tensor:
        """Run the forward pass (replayed when nothing changed) and return the root."""
        tape, program = self.tape, self.program
        if (tape is None or not self.replayable or not is_grad_enabled()
                or not (program.unchanged() if program else tape.unchanged())):
            root = self._record()
            if not root.requires_grad:
                self.tape, self._last = None, root
                return root
            self.tape, self.program = Tape(root), None
            self.records += 1
            return root
        self._ran = False
        if program is None:
            program = self.program = make_program(tape, self.plan)
            if program is False and self.plan is not None and self.plan.optimizer is not None:
                self.replayable = False  # a step too long to write out as code runs as written
                return self.forward()
        if program is False:
            tape.forward()
        else:
            program.forward()
        return tape.root

    def _record(self) -> Tensor:
        """Run fn, noting what it does besides computing (``engine.fused``); a step it runs in a pattern
        the replay does not write out, or one too long to write out, is run as written at every call."""
        RECORDING.value_dependent = False
        outer, STEPS.events = STEPS.events, []
        try:
            root = self.fn()
            events = STEPS.events
        finally:
            STEPS.events = outer
        self.replayable = not RECORDING.value_dependent
        if not isinstance(root, Tensor):
            raise TypeError(f"the compiled function must return a Tensor, got {type(root).__name__}")
        plan = plan_of(events, root)
        self._ran = plan is not None
        self.plan = plan if isinstance(plan, StepPlan) else None
        if plan is False or (self.plan is not None and self.plan.optimizer is not None and not self.replayable):
            self.replayable = False
        return root

    def backward(self) -> list[Any]:
        """Add the gradients of the last forward pass into the leaves' ``.grad``; returns them all, by slot.

        In a replay the returned arrays of nodes that keep no ``.grad`` are the replay's own buffers,
        overwritten by the next replay: copy what you keep. ``.grad`` arrays are never overwritten
        while anything still holds them.
        """
        if self.tape is None:
            if self._last is not None:
                seed_for(self._last, None)  # the same clear error as loss.backward() on such a tensor
            raise RuntimeError("call forward() before backward()")
        tape = self.tape
        if not tape.root.requires_grad or tape.root.data.shape != tape.seed.shape:
            seed_for(tape.root, None)  # raises the same clear error backward() would
        if self.program:
            return self.program.backward(tape.seed)
        grads, owned = gradients(tape.order, tape.seed)
        store(tape.order, grads, owned)
        return [grads.get(id(n)) for n in tape.nodes]

    def __call__(self) -> Tensor:
        program = self.program
        if program is None and self.tape is not None and self.plan is not None and self.plan.optimizer is not None:
            program = self.program = make_program(self.tape, self.plan)  # a step's first replay: the whole step
            self.replayable = self.replayable and program is not False  # too long to write out: run as written
        if program and self.replayable and is_grad_enabled() and program.replay():
            assert self.tape is not None  # a program is made from a tape
            return self.tape.root  # replayed: forward() and backward() with their checks taken once
        root = self.forward()
        if self._ran:
            return root  # fn ran its own backward (and step)
        if self.plan is not None and self.plan.optimizer is not None:
            return self._run_again()
        self.backward()
        return root

    def _run_again(self) -> Tensor:
        """A forward pass replayed alone where fn runs its own step: fn runs as written, recorded anew."""
        self.tape = None
        return self.forward()

    @property
    def source(self) -> str:
        """The replay as readable Python: the forward and backward pass, one line per op and per gradient."""
        if self.tape is None:
            raise RuntimeError("call the compiled function once first: the graph is recorded on the first call")
        if self.program is None:
            self.program = make_program(self.tape, self.plan)
        if self.program is False:
            raise RuntimeError("this graph is too long to write out as code; it is replayed op by op")
        return self.program.source


def compile(fn: Callable[[], Tensor]) -> Compiled:  # noqa: A001 - the name users expect
    """Record ``fn``'s graph once, then replay it: forward + backward without rebuilding the graph.

    ``fn`` takes no arguments and returns the loss; it must compute the same ops on every
    call (no branches on values). A graph that uses a comparison or an argmax of values that
    need gradients is recorded anew at every call instead, since its masks would go stale.
    Change inputs and parameters through ``.data``; a change of shape, dtype, memory layout
    (a transposed or Fortran-ordered array) or ``requires_grad`` records the graph again. Calling the result runs
    forward and backward and returns the loss; gradients accumulate in ``.grad`` exactly as
    ``loss.backward()`` would leave them, bit for bit.

    ``fn`` may also be a whole training step, as PyTorch writes one: ``opt.zero_grad()``, the loss,
    ``loss.backward()``, ``opt.step()``, ``return loss``. Its replay is then one generated function
    from the parameters to the updated parameters, the optimizer's update written in after the
    backward pass (``backproplab.engine.fused``), with the same bits as the step run as written.
    """
    return Compiled(fn)
