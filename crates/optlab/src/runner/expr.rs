//! Step sizes relative to a problem's constants: `lr = "1/L"`, `"0.5/L"`, `"1/(2mu)"`.
//!
//! Grammar (whitespace ignored):
//!
//! ```text
//! expr    := term (('+' | '-') term)*
//! term    := factor (('*' | '/') factor | factor)*      juxtaposition multiplies: 2mu = 2*mu
//! factor  := '-' factor | power
//! power   := primary ('^' factor)?
//! primary := number | variable | 'sqrt' '(' expr ')' | '(' expr ')'
//! ```
//!
//! Variables: `L` (smoothness of f), `Lmax` (largest smoothness of the fᵢ, also `L_max`), `mu`
//! (strong convexity, also `μ`), `m` (number of samples), `d` (dimension). Using a constant the
//! problem does not know (e.g. `L` for Rosenbrock) is an error.

use std::iter::Peekable;
use std::str::Chars;

/// Values of the variables an expression may use (`None`: unknown for this problem).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Vars {
    /// L.
    pub l: Option<f64>,
    /// L_max.
    pub l_max: Option<f64>,
    /// μ.
    pub mu: Option<f64>,
    /// m.
    pub m: f64,
    /// d.
    pub d: f64,
}

/// The variable names accepted.
pub const VARIABLES: &str = "L, Lmax (L_max), mu (μ), m, d";

/// Evaluates `text`; the error says what is wrong (the caller adds the field name).
pub fn eval(text: &str, vars: &Vars) -> Result<f64, String> {
    let mut p = Parser {
        chars: text.chars().peekable(),
        vars,
    };
    let v = p.expr()?;
    p.skip_ws();
    if let Some(c) = p.chars.peek() {
        return Err(format!("unexpected `{c}`"));
    }
    if !v.is_finite() {
        return Err(format!("evaluates to {v}"));
    }
    Ok(v)
}

struct Parser<'a> {
    chars: Peekable<Chars<'a>>,
    vars: &'a Vars,
}

impl Parser<'_> {
    fn skip_ws(&mut self) {
        while self.chars.peek().is_some_and(|c| c.is_whitespace()) {
            self.chars.next();
        }
    }

    fn peek(&mut self) -> Option<char> {
        self.skip_ws();
        self.chars.peek().copied()
    }

    fn expr(&mut self) -> Result<f64, String> {
        let mut v = self.term()?;
        loop {
            match self.peek() {
                Some('+') => {
                    self.chars.next();
                    v += self.term()?;
                }
                Some('-') => {
                    self.chars.next();
                    v -= self.term()?;
                }
                _ => return Ok(v),
            }
        }
    }

    fn term(&mut self) -> Result<f64, String> {
        let mut v = self.factor()?;
        loop {
            match self.peek() {
                Some('*') => {
                    self.chars.next();
                    v *= self.factor()?;
                }
                Some('/') => {
                    self.chars.next();
                    v /= self.factor()?;
                }
                Some(c) if c.is_ascii_alphanumeric() || c == '(' || c == '.' || c == 'μ' => {
                    v *= self.factor()?;
                }
                _ => return Ok(v),
            }
        }
    }

    fn factor(&mut self) -> Result<f64, String> {
        if self.peek() == Some('-') {
            self.chars.next();
            return Ok(-self.factor()?);
        }
        let base = self.primary()?;
        if self.peek() == Some('^') {
            self.chars.next();
            let e = self.factor()?;
            return Ok(base.powf(e));
        }
        Ok(base)
    }

    fn primary(&mut self) -> Result<f64, String> {
        match self.peek() {
            Some('(') => {
                self.chars.next();
                let v = self.expr()?;
                if self.peek() != Some(')') {
                    return Err("missing `)`".into());
                }
                self.chars.next();
                Ok(v)
            }
            Some(c) if c.is_ascii_digit() || c == '.' => {
                let mut s = String::new();
                while let Some(&c) = self.chars.peek() {
                    let exp_sign = (c == '-' || c == '+') && s.ends_with(['e', 'E']);
                    let exp = (c == 'e' || c == 'E') && !s.contains(['e', 'E']);
                    if c.is_ascii_digit() || c == '.' || exp || exp_sign {
                        s.push(c);
                        self.chars.next();
                    } else {
                        break;
                    }
                }
                s.parse::<f64>()
                    .map_err(|_| format!("`{s}` is not a number"))
            }
            Some(c) if c.is_alphabetic() || c == '_' => {
                let mut s = String::new();
                while let Some(&c) = self.chars.peek() {
                    if c.is_alphanumeric() || c == '_' {
                        s.push(c);
                        self.chars.next();
                    } else {
                        break;
                    }
                }
                self.variable(&s)
            }
            Some(c) => Err(format!("unexpected `{c}`")),
            None => Err("unexpected end of expression".into()),
        }
    }

    fn variable(&mut self, name: &str) -> Result<f64, String> {
        let known = |v: Option<f64>, what: &str| {
            v.ok_or_else(|| format!("`{name}` ({what}) is not known for this problem"))
        };
        match name {
            "sqrt" => {
                if self.peek() != Some('(') {
                    return Err("`sqrt` needs parentheses: sqrt(...)".into());
                }
                Ok(self.primary()?.sqrt())
            }
            "L" => known(self.vars.l, "smoothness constant"),
            "Lmax" | "L_max" => known(self.vars.l_max, "largest per-sample smoothness"),
            "mu" | "μ" => known(self.vars.mu, "strong convexity constant"),
            "m" => Ok(self.vars.m),
            "d" => Ok(self.vars.d),
            _ => Err(format!(
                "unknown variable `{name}`; valid: {VARIABLES}, and sqrt(...)"
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const V: Vars = Vars {
        l: Some(4.0),
        l_max: Some(8.0),
        mu: Some(0.5),
        m: 200.0,
        d: 10.0,
    };

    #[test]
    fn grammar() {
        assert_eq!(eval("1/L", &V), Ok(0.25));
        assert_eq!(eval("0.5/L", &V), Ok(0.125));
        assert_eq!(eval("1/(2mu)", &V), Ok(1.0));
        assert_eq!(eval("1 / (2 * μ)", &V), Ok(1.0));
        assert_eq!(eval("2/(L+mu)", &V), Ok(2.0 / 4.5));
        assert_eq!(eval("1/(2 L_max)", &V), Ok(1.0 / 16.0));
        assert_eq!(eval("sqrt(m)/d", &V), Ok(200f64.sqrt() / 10.0));
        assert_eq!(eval("1e-2", &V), Ok(0.01));
        assert_eq!(eval("2^-1", &V), Ok(0.5));
        assert_eq!(eval("-1 + 3", &V), Ok(2.0));
        assert_eq!(eval("0.1", &V), Ok(0.1));
    }

    #[test]
    fn errors() {
        let e = eval("1/Lx", &V).unwrap_err();
        assert!(
            e.contains("unknown variable `Lx`") && e.contains("Lmax"),
            "{e}"
        );
        let e = eval("1/L", &Vars::default()).unwrap_err();
        assert!(e.contains("not known"), "{e}");
        assert!(eval("(1/L", &V).is_err());
        assert!(eval("1/0", &V).is_err());
        assert!(eval("", &V).is_err());
        assert!(eval("1 $", &V).is_err());
    }
}
