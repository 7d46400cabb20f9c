"""The mutant catalogue: deliberately broken backends the conformance suites must flag.

Each entry is one bug (from the modules gradients, linear_bce, tape, storage, graph and engine of
this package) on top of the reference engine's adapter, importable as a backend:

    pytest --pyargs autograd_conformance_suites \
        --conformance-backend tests.mutants.catalogue:BroadcastNotSummed

`CATALOGUE` lists them; each class names its bug class (docs/bug-classes.md, or
"own: ...") and `flagged_by`, the requirements whose tests must fail on it. `TORCH_CATALOGUE`
holds the same bugs on top of PyTorch (`...:BroadcastNotSummedTorch`), for engines' sake: the
suites must not depend on the broken engine being the reference one.
"""

from __future__ import annotations

from tests.mutants import (
    aliasing,
    dtypes,
    engine,
    errors,
    forward_mode,
    grad_modes,
    gradients,
    graph,
    higher_order,
    hooks,
    linear_bce,
    storage,
    tape,
    views,
)
from tests.mutants.base import Bug, on_reference, on_torch

BUGS: tuple[type[Bug], ...] = (
    # 1-12 of docs/bug-classes.md
    gradients.BroadcastNotSummed,
    gradients.MeanBackwardNotDivided,
    linear_bce.BceMeanReductionIgnoredInBackward,
    linear_bce.BceLogitZeroSubgradient,
    linear_bce.BceStableFormSignError,
    linear_bce.BceClampedLogistic,
    engine.RecursivePerPathBackward,
    engine.AssignInsteadOfAccumulate,
    engine.StaleIntermediateGrads,
    storage.RetainGraphIgnored,
    tape.IsLeafFromRequiresGrad,
    tape.GradFnAttachedUnderNoGrad,
    storage.GradUpcastToFloat64,
    linear_bce.LinearWeightGradTransposed,
    linear_bce.BiasGradFromFirstRow,
    # own designs: op backwards
    gradients.SigmoidGradFromInput,
    gradients.ReluGradOneAtZero,
    gradients.SubSecondOperandSign,
    gradients.DivDenominatorSign,
    gradients.TransposeBackwardNotTransposed,
    gradients.ExpandBackwardFirstSlice,
    gradients.IndexRepeatedOverwrite,
    linear_bce.BcePosWeightIgnoredInBackward,
    gradients.MeanDividesByInputSize,
    gradients.Float64ForwardInFloat32,
    linear_bce.BceMeanOverBatchOnly,
    gradients.MatmulIsDot,
    # own designs: tape semantics
    tape.NoGradIgnored,
    tape.EnableGradIgnored,
    tape.NoGradNotRestoredOnException,
    tape.RequiresGradFromFirstOperandOnly,
    tape.IntegerRequiresGradAccepted,
    tape.NonLeafRequiresGradOffAccepted,
    tape.RequiresGradFlagIgnored,
    tape.SwitchedOffLeafStillAccumulates,
    tape.DetachIsIdentity,
    tape.NonDifferentiableOpRecorded,
    tape.LazyRootGradFn,
    storage.GradOverwrittenNotAccumulated,
    storage.GradOfWritesGrad,
    storage.ZeroGradOutOfPlace,
    storage.ClearGradIgnored,
    storage.EveryTensorRetainsGrad,
    storage.RetainGradIgnored,
    graph.AccumulateNodePerUse,
    graph.GraphReachesNonRequiringLeaf,
    # own designs: gradient hooks
    hooks.HookRunTwice,
    hooks.LeafHookResultIgnored,
    hooks.NonLeafHookResultIgnored,
    hooks.HooksRunNewestFirst,
    hooks.HookRemoveIgnored,
    hooks.RetainGradBeforeLaterHooks,
    hooks.PostHookBeforeAccumulation,
    hooks.HookRefusalsSwallowed,
    hooks.HookRefusalAsTypeError,
    # own designs: errors that must be raised
    errors.ImplicitOnesForAnyShape,
    errors.ImplicitGradientOnlyForZeroDim,
    errors.BackwardWithoutGradIsNoOp,
    errors.GradientFittedToOutput,
    errors.GradientDtypeRefused,
    errors.UnusedInputGivesNone,
    errors.UnusedInputGivesZeros,
    errors.MaterializeGradsIgnored,
    errors.InputWithoutGradGivesNone,
    errors.LeafInplaceAllowed,
    errors.InplaceWritesUnversioned,
    errors.InplaceOnGraphTensorRefused,
    errors.RefusalsCrashWithTypeError,
    # own designs: aliasing, and the tape rules op by op
    aliasing.GradKeepsIncomingGradient,
    aliasing.GradBufferReusedNextPass,
    aliasing.NoGradSumRecordsNode,
    # own designs: grad modes
    grad_modes.NoGradRestoresTrue,
    grad_modes.SetGradEnabledOnlyAsBlock,
    grad_modes.SetGradEnabledDecoratorSwitchesEarly,
    grad_modes.GradModeSharedByThreads,
    grad_modes.InferenceModeIsNoGrad,
    grad_modes.InferenceDecoratorLeaksOnRaise,
    grad_modes.InferenceTensorSavedSilently,
    # own designs: forward mode
    forward_mode.MulTangentOneSided,
    forward_mode.SumTangentAveraged,
    forward_mode.BroadcastTangentDropped,
    forward_mode.TangentUpcastToFloat64,
    forward_mode.DualPrimalInFloat64,
    # own designs: higher-order gradients
    higher_order.CreateGraphIgnored,
    higher_order.MulBackwardSavesConstants,
    higher_order.HvpWithoutMixedTerms,
    higher_order.BackwardCreateGraphDetachesGrad,
    higher_order.BackwardInputsIgnored,
    # own designs: views and in-place ops
    views.InplaceNotRecorded,
    views.ViewWriteSkipsBase,
    views.ViewOfLeafWrittenSilently,
    views.ViewsAreCopies,
    views.DetachCopies,
    views.DetachKeepsGraph,
    views.NoGradWriteDropsRequiresGrad,
    # own designs: floating-point dtypes
    dtypes.HalfReductionReturnsFloat32,
    dtypes.HalfGradientsInFloat32,
    dtypes.Float32GradientsThroughHalf,
    dtypes.MixedGradientInPromotedDtype,
    dtypes.HalfLeafGradInFloat32,
)

TORCH_ONLY_BUGS: tuple[type[Bug], ...] = (dtypes.ComplexGradConjugated,)
"""Bugs in what only PyTorch has of the two correct engines (complex tensors): they sit on
PyTorch alone, where the reference engine would make their requirement not applicable."""

CATALOGUE: tuple[type[Bug], ...] = tuple(on_reference(bug, __name__) for bug in BUGS)
TORCH_CATALOGUE: tuple[type[Bug], ...] = tuple(
    on_torch(bug, __name__) for bug in (*BUGS, *TORCH_ONLY_BUGS)
)


def import_path(mutant: type[Bug]) -> str:
    """The backend specifier (`--conformance-backend`) that loads `mutant`."""
    return f"{__name__}:{mutant.__name__}"


def __getattr__(name: str) -> type:
    # The classes are published by on_reference/on_torch; this only improves the error.
    raise AttributeError(f"module {__name__!r} has no mutant {name!r}")
