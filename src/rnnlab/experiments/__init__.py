"""The long-range experiments: vanishing and exploding gradients, measured.

    vanishing   ‖∂L/∂h_t‖ and ‖∂h_T/∂h_t‖ against distance for RNN, LSTM, GRU, at
                initialisation and after training, for several recurrent-weight scales
    adding      the adding problem (Arjovsky et al. 2016): LSTM and GRU learn it, a tanh
                RNN stays at the baseline
    copy        the copy-memory task (Arjovsky et al. 2016) against its memoryless baseline
    clipping    a tanh RNN on an exploding setting, trained with and without clipping

Each is one function ``run_NAME(config, out) -> results`` that trains, writes
``NAME.json`` and PNG plots into ``out`` and prints a table; ``rnnlab experiment NAME``
runs it from the command line (``rnnlab.experiments.command``).
"""
