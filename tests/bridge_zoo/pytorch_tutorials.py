"""Models from PyTorch's tutorials (https://github.com/pytorch/tutorials), copied as the tutorials write
them; sizes that are literal in a tutorial are arguments here only where the literal size would be large."""

from __future__ import annotations

import math
import random

import torch
import torch.nn.functional as F
from torch import nn

from .zoo import Case, ZooModel, floats, tokens

TUTORIALS = "https://github.com/pytorch/tutorials/blob/main/"


# --- beginner_source/basics/quickstart_tutorial.py -------------------------------------------------------
class NeuralNetwork(nn.Module):
    def __init__(self, pixels=28 * 28, width=512):
        super().__init__()
        self.flatten = nn.Flatten()
        self.linear_relu_stack = nn.Sequential(
            nn.Linear(pixels, width),
            nn.ReLU(),
            nn.Linear(width, width),
            nn.ReLU(),
            nn.Linear(width, 10)
        )

    def forward(self, x):
        x = self.flatten(x)
        logits = self.linear_relu_stack(x)
        return logits


def quickstart(seed: int = 0, batch: int = 2) -> Case:
    torch.manual_seed(seed)
    model = NeuralNetwork(6 * 6, 16).double()
    return model, nn.CrossEntropyLoss(), floats(seed, batch, 6, 6), tokens(seed, 10, batch), \
        "linear_relu_stack.2.weight[3,5]"


# --- beginner_source/nn_tutorial.py ("What is torch.nn really?") -------------------------------------------
class Mnist_Logistic(nn.Module):  # noqa: N801 - the tutorial's name
    def __init__(self, pixels=784):
        super().__init__()
        self.weights = nn.Parameter(torch.randn(pixels, 10) / math.sqrt(pixels))
        self.bias = nn.Parameter(torch.zeros(10))

    def forward(self, xb):
        return xb @ self.weights + self.bias


def mnist_logistic(seed: int = 0, batch: int = 2) -> Case:
    torch.manual_seed(seed)
    model = Mnist_Logistic(36).double()
    return model, F.cross_entropy, floats(seed, batch, 36), tokens(seed, 10, batch), "weights[7,3]"


class Mnist_CNN(nn.Module):  # noqa: N801 - the tutorial's name
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, kernel_size=3, stride=2, padding=1)
        self.conv2 = nn.Conv2d(16, 16, kernel_size=3, stride=2, padding=1)
        self.conv3 = nn.Conv2d(16, 10, kernel_size=3, stride=2, padding=1)

    def forward(self, xb):
        xb = xb.view(-1, 1, 28, 28)
        xb = F.relu(self.conv1(xb))
        xb = F.relu(self.conv2(xb))
        xb = F.relu(self.conv3(xb))
        xb = F.avg_pool2d(xb, 4)
        return xb.view(-1, xb.size(1))


def mnist_cnn(seed: int = 0, batch: int = 2) -> Case:
    torch.manual_seed(seed)
    model = Mnist_CNN().double()
    return model, F.cross_entropy, floats(seed, batch, 784), tokens(seed, 10, batch), "conv2.weight[3,5,1,2]"


# --- beginner_source/blitz/cifar10_tutorial.py ----------------------------------------------------------------
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 6, 5)
        self.pool = nn.MaxPool2d(2, 2)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1 = nn.Linear(16 * 5 * 5, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, 10)

    def forward(self, x):
        x = self.pool(F.relu(self.conv1(x)))
        x = self.pool(F.relu(self.conv2(x)))
        x = torch.flatten(x, 1) # flatten all dimensions except batch
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        x = self.fc3(x)
        return x


def cifar10_net(seed: int = 0, batch: int = 2) -> Case:
    torch.manual_seed(seed)
    model = Net().double()
    images, labels = floats(seed, batch, 3, 32, 32), tokens(seed, 10, batch)
    return model, nn.CrossEntropyLoss(), images, labels, "conv1.weight[2,1,3,4]"


# --- beginner_source/examples_nn/dynamic_net.py ("Learning PyTorch with Examples") ---------------------------
class DynamicNet(torch.nn.Module):
    def __init__(self):
        """
        In the constructor we instantiate five parameters and assign them as members.
        """
        super().__init__()
        self.a = torch.nn.Parameter(torch.randn(()))
        self.b = torch.nn.Parameter(torch.randn(()))
        self.c = torch.nn.Parameter(torch.randn(()))
        self.d = torch.nn.Parameter(torch.randn(()))
        self.e = torch.nn.Parameter(torch.randn(()))

    def forward(self, x):
        """
        For the forward pass of the model, we randomly choose either 4, 5
        and reuse the e parameter to compute the contribution of these orders.
        """
        y = self.a + self.b * x + self.c * x ** 2 + self.d * x ** 3
        for exp in range(4, random.randint(4, 6)):
            y = y + self.e * x ** exp
        return y


def dynamic_net(seed: int = 0, batch: int = 9) -> Case:
    torch.manual_seed(seed)
    random.seed(seed)
    x = torch.linspace(-math.pi, math.pi, batch, dtype=torch.float64)
    return DynamicNet().double(), torch.nn.MSELoss(reduction='sum'), x, torch.sin(x), "e"


# --- intermediate_source/char_rnn_classification_tutorial.py ("NLP From Scratch") -----------------------------
class CharRNN(nn.Module):
    def __init__(self, input_size, hidden_size, output_size):
        super().__init__()

        self.rnn = nn.RNN(input_size, hidden_size)
        self.h2o = nn.Linear(hidden_size, output_size)
        self.softmax = nn.LogSoftmax(dim=1)

    def forward(self, line_tensor):
        rnn_out, hidden = self.rnn(line_tensor)
        output = self.h2o(hidden[0])
        output = self.softmax(output)

        return output


def char_rnn(seed: int = 0, batch: int = 5) -> Case:
    """One name of ``batch`` letters, one-hot in a (letters, 1, n_letters) tensor, as lineToTensor makes it."""
    torch.manual_seed(seed)
    n_letters, n_hidden, n_categories = 8, 6, 3
    letters = tokens(seed, n_letters, batch)
    line_tensor = F.one_hot(letters, n_letters).to(torch.float64).view(batch, 1, n_letters)
    model = CharRNN(n_letters, n_hidden, n_categories).double()
    return model, nn.NLLLoss(), line_tensor, tokens(seed + 1, n_categories, 1), "rnn.weight_hh_l0[1,2]"


# --- beginner_source/nlp/sequence_models_tutorial.py ("Sequence Models and LSTM Networks") ---------------------
class LSTMTagger(nn.Module):

    def __init__(self, embedding_dim, hidden_dim, vocab_size, tagset_size):
        super(LSTMTagger, self).__init__()  # noqa: UP008 - as the tutorial writes it
        self.hidden_dim = hidden_dim

        self.word_embeddings = nn.Embedding(vocab_size, embedding_dim)

        # The LSTM takes word embeddings as inputs, and outputs hidden states
        # with dimensionality hidden_dim.
        self.lstm = nn.LSTM(embedding_dim, hidden_dim)

        # The linear layer that maps from hidden state space to tag space
        self.hidden2tag = nn.Linear(hidden_dim, tagset_size)

    def forward(self, sentence):
        embeds = self.word_embeddings(sentence)
        lstm_out, _ = self.lstm(embeds.view(len(sentence), 1, -1))
        tag_space = self.hidden2tag(lstm_out.view(len(sentence), -1))
        tag_scores = F.log_softmax(tag_space, dim=1)
        return tag_scores


def lstm_tagger(seed: int = 0, batch: int = 5) -> Case:
    """The tutorial's sizes (EMBEDDING_DIM = HIDDEN_DIM = 6, 9 words, 3 tags); one sentence of ``batch`` words."""
    torch.manual_seed(seed)
    model = LSTMTagger(6, 6, 9, 3).double()
    return model, nn.NLLLoss(), tokens(seed, 9, batch), tokens(seed + 1, 3, batch), "lstm.weight_ih_l0[4,2]"


# --- beginner_source/nlp/word_embeddings_tutorial.py ------------------------------------------------------------
class NGramLanguageModeler(nn.Module):

    def __init__(self, vocab_size, embedding_dim, context_size):
        super(NGramLanguageModeler, self).__init__()  # noqa: UP008 - as the tutorial writes it
        self.embeddings = nn.Embedding(vocab_size, embedding_dim)
        self.linear1 = nn.Linear(context_size * embedding_dim, 128)
        self.linear2 = nn.Linear(128, vocab_size)

    def forward(self, inputs):
        embeds = self.embeddings(inputs).view((1, -1))
        out = F.relu(self.linear1(embeds))
        out = self.linear2(out)
        log_probs = F.log_softmax(out, dim=1)
        return log_probs


def ngram(seed: int = 0, batch: int = 1) -> Case:
    """CONTEXT_SIZE = 2 and EMBEDDING_DIM = 10 as in the tutorial, a vocabulary of 12 words; one context."""
    torch.manual_seed(seed)
    model = NGramLanguageModeler(12, 10, 2).double()
    context = torch.tensor([3, 7])
    return model, nn.NLLLoss(), context, tokens(seed, 12, 1), "embeddings.weight[7,4]"


# --- intermediate_source/scaled_dot_product_attention_tutorial.py -------------------------------------------
class CausalSelfAttention(nn.Module):

    def __init__(self, num_heads: int, embed_dimension: int, bias: bool=False, is_causal: bool=False,
                 dropout:float=0.0):
        super().__init__()
        assert embed_dimension % num_heads == 0
        # key, query, value projections for all heads, but in a batch
        self.c_attn = nn.Linear(embed_dimension, 3 * embed_dimension, bias=bias)
        # output projection
        self.c_proj = nn.Linear(embed_dimension, embed_dimension, bias=bias)
        # regularization
        self.dropout = dropout
        self.resid_dropout = nn.Dropout(dropout)
        self.num_heads = num_heads
        self.embed_dimension = embed_dimension
        # Perform causal masking
        self.is_causal = is_causal

    def forward(self, x):
        # calculate query, key, values for all heads in batch and move head forward to be the batch dim
        query_projected = self.c_attn(x)

        batch_size = query_projected.size(0)
        embed_dim = query_projected.size(2)
        head_dim = embed_dim // (self.num_heads * 3)

        query, key, value = query_projected.chunk(3, -1)
        query = query.view(batch_size, -1, self.num_heads, head_dim).transpose(1, 2)
        key = key.view(batch_size, -1, self.num_heads, head_dim).transpose(1, 2)
        value = value.view(batch_size, -1, self.num_heads, head_dim).transpose(1, 2)

        if self.training:
            dropout = self.dropout
            is_causal = self.is_causal
        else:
            dropout = 0.0
            is_causal = False

        y = F.scaled_dot_product_attention(query, key, value, attn_mask=None, dropout_p=dropout, is_causal=is_causal)
        y = y.transpose(1, 2).view(batch_size, -1, self.num_heads * head_dim)

        y = self.resid_dropout(self.c_proj(y))
        return y


def sdpa_attention(seed: int = 0, batch: int = 2) -> Case:
    """The tutorial's model (num_heads=8, embed_dimension=1024, is_causal=True, dropout=0.1, eval()) with
    2 heads of 4; it has no loss of its own, so the entry is of the mean squared error against a target."""
    torch.manual_seed(seed)
    model = CausalSelfAttention(num_heads=2, embed_dimension=8, bias=False, is_causal=True, dropout=0.1)
    model = model.double().eval()
    return model, F.mse_loss, floats(seed, batch, 5, 8), floats(seed + 1, batch, 5, 8), "c_attn.weight[11,3]"


MODELS = [
    ZooModel("quickstart NeuralNetwork", TUTORIALS + "beginner_source/basics/quickstart_tutorial.py",
             "Flatten, Linear, ReLU, Sequential; CrossEntropyLoss", quickstart),
    ZooModel("Mnist_Logistic", TUTORIALS + "beginner_source/nn_tutorial.py",
             "nn.Parameter, @, +; F.cross_entropy", mnist_logistic),
    ZooModel("Mnist_CNN", TUTORIALS + "beginner_source/nn_tutorial.py",
             "view, Conv2d (stride 2, padding 1), F.relu, F.avg_pool2d, size; F.cross_entropy", mnist_cnn),
    ZooModel("CIFAR10 Net", TUTORIALS + "beginner_source/blitz/cifar10_tutorial.py",
             "Conv2d, MaxPool2d, torch.flatten, Linear, F.relu; CrossEntropyLoss", cifar10_net),
    ZooModel("DynamicNet", TUTORIALS + "beginner_source/examples_nn/dynamic_net.py",
             "scalar nn.Parameter, **, random.randint in forward; MSELoss(sum)", dynamic_net, random=True),
    ZooModel("CharRNN", TUTORIALS + "intermediate_source/char_rnn_classification_tutorial.py",
             "nn.RNN, tuple output, hidden[0], Linear, LogSoftmax; NLLLoss", char_rnn),
    ZooModel("LSTMTagger", TUTORIALS + "beginner_source/nlp/sequence_models_tutorial.py",
             "Embedding, nn.LSTM, len(sentence), view, Linear, F.log_softmax; NLLLoss", lstm_tagger),
    ZooModel("NGramLanguageModeler", TUTORIALS + "beginner_source/nlp/word_embeddings_tutorial.py",
             "Embedding, view, Linear, F.relu, F.log_softmax; NLLLoss", ngram),
    ZooModel("SDPA CausalSelfAttention (eval)",
             TUTORIALS + "intermediate_source/scaled_dot_product_attention_tutorial.py",
             "Linear, size, chunk, view, transpose, F.scaled_dot_product_attention, Dropout (eval); F.mse_loss",
             sdpa_attention),
]
