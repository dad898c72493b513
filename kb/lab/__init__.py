"""The lab toolkit shared by every reproduction script in ``repro/``.

Small modules, one noun each; import the one you need (nothing is imported here, so
``import kb.lab`` stays cheap and torch is loaded only by the modules that use it):

- ``kb.lab.rng``          explicit seeding: ``seeded(seed)`` and ``generator(seed, device)``
- ``kb.lab.dataset``      the ``Dataset`` container and ``batches`` (index-tensor minibatches)
- ``kb.lab.data``         offline data: MNIST-1D (cached), sklearn digits; re-exports the rest
- ``kb.lab.synthetic``    teacher-student, Gaussian mixture, modular arithmetic, sinusoids,
  random labels
- ``kb.lab.cifar``        CIFAR-10 from the standard python-pickle files on disk (never downloads)
- ``kb.lab.norms``        normalisation layers, including Santurkar et al.'s ``NoisyBatchNorm``
- ``kb.lab.mlp``          the ``MLP`` with standard / NTK / muP parametrisations
- ``kb.lab.convnets``     ``CNN1d``, ``CNN2d``, ``ResNet`` (lesionable, BN and skips switchable), ``VGG``
- ``kb.lab.transformer``  a small ``Transformer`` (pre/post-LN, layer dropping, head masking)
- ``kb.lab.models``       one import point for every model class above
- ``kb.lab.train``        the training loop, ``evaluate``, ``steps_to_target``, ``SignSGD``
- ``kb.lab.hessian``      Hessian-vector products, full Hessians, top eigenvalue by power iteration
- ``kb.lab.landscape``    Santurkar et al. smoothness probes and ICS, interpolation barriers
- ``kb.lab.prune``        magnitude pruning, masks and weight rewinding
- ``kb.lab.measure``      lesions, init statistics vs the NNGP kernel, shattered gradients;
  re-exports ``hessian``, ``landscape`` and ``prune`` so one import gives every measurement

Conventions: the device is always a parameter (``device="cpu"`` by default) so the same code
runs at smoke scale on a CPU and at full scale on a GPU; every random thing takes an explicit
``seed`` or ``torch.Generator``; nothing here calls ``torch.set_num_threads`` (callers decide).
"""
