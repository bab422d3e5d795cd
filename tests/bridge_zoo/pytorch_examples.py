"""Models from https://github.com/pytorch/examples, copied as written there."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .zoo import Case, ZooModel, floats, tokens

EXAMPLES = "https://github.com/pytorch/examples/blob/main/"


# --- mnist/main.py --------------------------------------------------------------------------------------------
class Net(nn.Module):
    def __init__(self):
        super(Net, self).__init__()  # noqa: UP008 - as the example writes it
        self.conv1 = nn.Conv2d(1, 32, 3, 1)
        self.conv2 = nn.Conv2d(32, 64, 3, 1)
        self.dropout1 = nn.Dropout(0.25)
        self.dropout2 = nn.Dropout(0.5)
        self.fc1 = nn.Linear(9216, 128)
        self.fc2 = nn.Linear(128, 10)

    def forward(self, x):
        x = self.conv1(x)
        x = F.relu(x)
        x = self.conv2(x)
        x = F.relu(x)
        x = F.max_pool2d(x, 2)
        x = self.dropout1(x)
        x = torch.flatten(x, 1)
        x = self.fc1(x)
        x = F.relu(x)
        x = self.dropout2(x)
        x = self.fc2(x)
        output = F.log_softmax(x, dim=1)
        return output


def mnist_net(seed: int = 0, batch: int = 2) -> Case:
    """In training mode, as train() runs it: both Dropout layers drop entries."""
    torch.manual_seed(seed)
    model = Net().double()
    model.train()
    return model, F.nll_loss, floats(seed, batch, 1, 28, 28), tokens(seed, 10, batch), "fc2.weight[3,17]"


# --- word_language_model/model.py -----------------------------------------------------------------------------
class RNNModel(nn.Module):
    """Container module with an encoder, a recurrent module, and a decoder."""

    def __init__(self, rnn_type, ntoken, ninp, nhid, nlayers, dropout=0.5, tie_weights=False):
        super(RNNModel, self).__init__()  # noqa: UP008 - as the example writes it
        self.ntoken = ntoken
        self.drop = nn.Dropout(dropout)
        self.encoder = nn.Embedding(ntoken, ninp)
        if rnn_type in ['LSTM', 'GRU']:
            self.rnn = getattr(nn, rnn_type)(ninp, nhid, nlayers, dropout=dropout)
        else:
            try:
                nonlinearity = {'RNN_TANH': 'tanh', 'RNN_RELU': 'relu'}[rnn_type]
            except KeyError as e:
                raise ValueError( """An invalid option for `--model` was supplied,
                                 options are ['LSTM', 'GRU', 'RNN_TANH' or 'RNN_RELU']""") from e
            self.rnn = nn.RNN(ninp, nhid, nlayers, nonlinearity=nonlinearity, dropout=dropout)
        self.decoder = nn.Linear(nhid, ntoken)

        # Optionally tie weights as in:
        # "Using the Output Embedding to Improve Language Models" (Press & Wolf 2016)
        # https://arxiv.org/abs/1608.05859
        # and
        # "Tying Word Vectors and Word Classifiers: A Loss Framework for Language Modeling" (Inan et al. 2016)
        # https://arxiv.org/abs/1611.01462
        if tie_weights:
            if nhid != ninp:
                raise ValueError('When using the tied flag, nhid must be equal to emsize')
            self.decoder.weight = self.encoder.weight

        self.init_weights()

        self.rnn_type = rnn_type
        self.nhid = nhid
        self.nlayers = nlayers

    def init_weights(self):
        initrange = 0.1
        nn.init.uniform_(self.encoder.weight, -initrange, initrange)
        nn.init.zeros_(self.decoder.bias)
        nn.init.uniform_(self.decoder.weight, -initrange, initrange)

    def forward(self, input, hidden):  # noqa: A002 - the example's name
        emb = self.drop(self.encoder(input))
        output, hidden = self.rnn(emb, hidden)
        output = self.drop(output)
        decoded = self.decoder(output)
        decoded = decoded.view(-1, self.ntoken)
        return F.log_softmax(decoded, dim=1), hidden

    def init_hidden(self, bsz):
        weight = next(self.parameters())
        if self.rnn_type == 'LSTM':
            return (weight.new_zeros(self.nlayers, bsz, self.nhid),
                    weight.new_zeros(self.nlayers, bsz, self.nhid))
        else:
            return weight.new_zeros(self.nlayers, bsz, self.nhid)


def _language_model(rnn_type: str, nlayers: int, dropout: float, tied: bool, seed: int, batch: int, wrt: str) -> Case:
    """main.py's step: data of (bptt, batch) token ids, its targets the next tokens, flattened; NLLLoss."""
    torch.manual_seed(seed)
    ntokens, bptt = 10, 4
    model = RNNModel(rnn_type, ntokens, 6, 6, nlayers, dropout, tied).double()
    source = tokens(seed, ntokens, bptt + 1, batch)
    data, targets = source[:bptt], source[1:].reshape(-1)
    return model, nn.NLLLoss(), (data, model.init_hidden(batch)), targets, wrt


def language_model_gru(seed: int = 0, batch: int = 2) -> Case:
    """main.py's defaults (--nlayers 2 --dropout 0.2) with --model GRU, in training mode."""
    return _language_model("GRU", 2, 0.2, False, seed, batch, "rnn.weight_hh_l0[3,4]")


def language_model_lstm(seed: int = 0, batch: int = 2) -> Case:
    """--model LSTM --nlayers 1 --dropout 0 --tied, in evaluation mode as evaluate() runs it."""
    model, loss, x, y, _ = _language_model("LSTM", 1, 0.0, True, seed, batch, "")
    return model.eval(), loss, x, y, "encoder.weight[2,3]"


# --- vae/main.py ----------------------------------------------------------------------------------------------
class VAE(nn.Module):
    def __init__(self):
        super(VAE, self).__init__()  # noqa: UP008 - as the example writes it

        self.fc1 = nn.Linear(784, 400)
        self.fc21 = nn.Linear(400, 20)
        self.fc22 = nn.Linear(400, 20)
        self.fc3 = nn.Linear(20, 400)
        self.fc4 = nn.Linear(400, 784)

    def encode(self, x):
        h1 = F.relu(self.fc1(x))
        return self.fc21(h1), self.fc22(h1)

    def reparameterize(self, mu, logvar):
        std = torch.exp(0.5*logvar)
        eps = torch.randn_like(std)
        return mu + eps*std

    def decode(self, z):
        h3 = F.relu(self.fc3(z))
        return torch.sigmoid(self.fc4(h3))

    def forward(self, x):
        mu, logvar = self.encode(x.view(-1, 784))
        z = self.reparameterize(mu, logvar)
        return self.decode(z), mu, logvar


def vae(seed: int = 0, batch: int = 2) -> Case:
    """The reconstruction part of loss_function: binary cross-entropy against the image, summed."""
    torch.manual_seed(seed)
    x = torch.rand(batch, 1, 28, 28, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    return VAE().double(), lambda recon, target: F.binary_cross_entropy(recon, target.view(-1, 784),
                                                                        reduction='sum'), x, x, "fc1.weight[5,300]"


MODELS = [
    ZooModel("mnist Net (training)", EXAMPLES + "mnist/main.py",
             "Conv2d, F.relu, F.max_pool2d, Dropout (training), torch.flatten, Linear, F.log_softmax; F.nll_loss",
             mnist_net, random=True),
    ZooModel("RNNModel GRU (training)", EXAMPLES + "word_language_model/model.py",
             "Embedding, Dropout (training), nn.GRU (2 layers, dropout), Linear, view, tuple output; NLLLoss",
             language_model_gru, random=True),
    ZooModel("RNNModel LSTM tied", EXAMPLES + "word_language_model/model.py",
             "Embedding, nn.LSTM with (h0, c0), Linear tied to the Embedding, view, tuple output; NLLLoss",
             language_model_lstm),
    ZooModel("VAE", EXAMPLES + "vae/main.py",
             "view, Linear, F.relu, torch.exp, torch.randn_like, torch.sigmoid, three outputs; "
             "F.binary_cross_entropy(sum)", vae, random=True),
]
