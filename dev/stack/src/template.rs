//! The template as JSON in CloudFormation's long form, and the intrinsic functions the model needs.

use crate::Error;
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;

/// YAML (with short-form tags) → JSON with every intrinsic in long form (`{"Ref": …}`, `{"Fn::Sub": …}`).
pub(crate) fn to_json(text: &str) -> Result<Value, Error> {
    let yaml: serde_norway::Value =
        serde_norway::from_str(text).map_err(|e| Error::Parse(e.to_string()))?;
    convert(yaml)
}

fn convert(v: serde_norway::Value) -> Result<Value, Error> {
    use serde_norway::Value as Y;
    Ok(match v {
        Y::Null => Value::Null,
        Y::Bool(b) => Value::Bool(b),
        Y::Number(n) => {
            if let Some(i) = n.as_i64() {
                json!(i)
            } else if let Some(u) = n.as_u64() {
                json!(u)
            } else {
                json!(n.as_f64().unwrap_or(f64::NAN))
            }
        }
        Y::String(s) => Value::String(s),
        Y::Sequence(items) => {
            Value::Array(items.into_iter().map(convert).collect::<Result<_, _>>()?)
        }
        Y::Mapping(m) => {
            let mut out = Map::new();
            for (k, v) in m {
                let key = match k {
                    Y::String(s) => s,
                    Y::Number(n) => n.to_string(),
                    Y::Bool(b) => b.to_string(),
                    other => {
                        return Err(Error::Parse(format!("unsupported mapping key {other:?}")));
                    }
                };
                out.insert(key, convert(v)?);
            }
            Value::Object(out)
        }
        Y::Tagged(tagged) => {
            let tag = tagged.tag.to_string();
            let name = tag.trim_start_matches('!');
            let inner = convert(tagged.value)?;
            match name {
                "Ref" => json!({ "Ref": inner }),
                "Condition" => json!({ "Condition": inner }),
                "GetAtt" => match inner {
                    // `!GetAtt Resource.Attribute` (the attribute may itself contain dots).
                    Value::String(s) => {
                        let (res, attr) = s.split_once('.').ok_or_else(|| {
                            Error::Parse(format!("!GetAtt {s:?} is not Resource.Attribute"))
                        })?;
                        json!({ "Fn::GetAtt": [res, attr] })
                    }
                    other => json!({ "Fn::GetAtt": other }),
                },
                "Sub" | "Join" | "Split" | "Select" | "If" | "Equals" | "Not" | "And" | "Or"
                | "FindInMap" | "Base64" | "GetAZs" | "ImportValue" | "Cidr" | "Length"
                | "ToJsonString" => json!({ format!("Fn::{name}"): inner }),
                other => return Err(Error::Parse(format!("unknown YAML tag !{other}"))),
            }
        }
    })
}

/// What `Ref` and `Fn::GetAtt` of a resource give.
#[derive(Debug, Clone, Default)]
pub(crate) struct Physical {
    pub reference: String,
    pub attributes: BTreeMap<String, String>,
}

/// Evaluates intrinsics against parameter values, pseudo parameters, conditions and resources'
/// physical ids.
pub(crate) struct Resolver<'a> {
    pub parameters: &'a BTreeMap<String, Value>,
    pub conditions: BTreeMap<String, bool>,
    pub resources: &'a BTreeMap<String, Physical>,
    pub region: &'a str,
    pub account: &'a str,
    pub stack_name: &'a str,
}

/// Marker for `AWS::NoValue` (removed from the enclosing object or array).
const NO_VALUE: &str = "\u{0}AWS::NoValue";

impl Resolver<'_> {
    pub fn resolve(&self, v: &Value) -> Result<Value, Error> {
        let out = self.eval(v)?;
        Ok(strip_no_value(out).unwrap_or(Value::Null))
    }

    pub fn resolve_string(&self, v: &Value) -> Result<String, Error> {
        match self.resolve(v)? {
            Value::String(s) => Ok(s),
            Value::Number(n) => Ok(n.to_string()),
            Value::Bool(b) => Ok(b.to_string()),
            other => Err(Error::Unsupported(format!(
                "expected a string, got {other}"
            ))),
        }
    }

    fn eval(&self, v: &Value) -> Result<Value, Error> {
        match v {
            Value::Array(items) => Ok(Value::Array(
                items
                    .iter()
                    .map(|i| self.eval(i))
                    .collect::<Result<_, _>>()?,
            )),
            Value::Object(map) if map.len() == 1 => {
                let (k, arg) = map.iter().next().expect("one entry");
                match k.as_str() {
                    "Ref" => self.reference(str_arg(k, arg)?),
                    "Condition" => Ok(Value::Bool(self.condition(str_arg(k, arg)?)?)),
                    "Fn::GetAtt" => {
                        let (res, attr) = match arg {
                            Value::Array(a) if a.len() == 2 => {
                                (str_arg(k, &a[0])?.to_owned(), self.string_of(&a[1])?)
                            }
                            Value::String(s) => {
                                let (r, a) = s.split_once('.').ok_or_else(|| {
                                    Error::Unsupported(format!("Fn::GetAtt {s:?}"))
                                })?;
                                (r.to_owned(), a.to_owned())
                            }
                            other => return Err(Error::Unsupported(format!("Fn::GetAtt {other}"))),
                        };
                        self.attribute(&res, &attr).map(Value::String)
                    }
                    "Fn::Sub" => self.sub(arg).map(Value::String),
                    "Fn::Join" => {
                        let a = array_arg(k, arg, 2)?;
                        let sep = self.string_of(&a[0])?;
                        let items = match self.eval(&a[1])? {
                            Value::Array(items) => items,
                            other => {
                                return Err(Error::Unsupported(format!("Fn::Join of {other}")));
                            }
                        };
                        let parts: Vec<String> = items
                            .iter()
                            .filter(|i| !is_no_value(i))
                            .map(scalar_string)
                            .collect::<Result<_, _>>()?;
                        Ok(Value::String(parts.join(&sep)))
                    }
                    "Fn::Split" => {
                        let a = array_arg(k, arg, 2)?;
                        let sep = self.string_of(&a[0])?;
                        let s = self.string_of(&a[1])?;
                        Ok(Value::Array(
                            s.split(sep.as_str())
                                .map(|p| Value::String(p.to_owned()))
                                .collect(),
                        ))
                    }
                    "Fn::Select" => {
                        let a = array_arg(k, arg, 2)?;
                        let i: usize =
                            scalar_string(&self.eval(&a[0])?)?.parse().map_err(|_| {
                                Error::Unsupported(format!("Fn::Select index {}", a[0]))
                            })?;
                        match self.eval(&a[1])? {
                            Value::Array(items) => items.get(i).cloned().ok_or_else(|| {
                                Error::Unsupported(format!("Fn::Select index {i} out of range"))
                            }),
                            other => Err(Error::Unsupported(format!("Fn::Select of {other}"))),
                        }
                    }
                    "Fn::If" => {
                        let a = array_arg(k, arg, 3)?;
                        let branch = if self.condition(str_arg(k, &a[0])?)? {
                            &a[1]
                        } else {
                            &a[2]
                        };
                        self.eval(branch)
                    }
                    "Fn::Equals" | "Fn::Not" | "Fn::And" | "Fn::Or" => {
                        self.truth(v).map(Value::Bool)
                    }
                    _ if k.starts_with("Fn::") => Err(Error::Unsupported(format!(
                        "intrinsic {k} is not supported"
                    ))),
                    _ => Ok(Value::Object(
                        std::iter::once((k.clone(), self.eval(arg)?)).collect(),
                    )),
                }
            }
            Value::Object(map) => Ok(Value::Object(
                map.iter()
                    .map(|(k, v)| Ok((k.clone(), self.eval(v)?)))
                    .collect::<Result<_, Error>>()?,
            )),
            other => Ok(other.clone()),
        }
    }

    fn string_of(&self, v: &Value) -> Result<String, Error> {
        scalar_string(&self.eval(v)?)
    }

    fn reference(&self, name: &str) -> Result<Value, Error> {
        if let Some(v) = self.parameters.get(name) {
            return Ok(v.clone());
        }
        Ok(Value::String(match name {
            "AWS::Region" => self.region.to_owned(),
            "AWS::AccountId" => self.account.to_owned(),
            "AWS::Partition" => "aws".to_owned(),
            "AWS::StackName" => self.stack_name.to_owned(),
            "AWS::StackId" => format!(
                "arn:aws:cloudformation:{}:{}:stack/{}/local",
                self.region, self.account, self.stack_name
            ),
            "AWS::URLSuffix" => "amazonaws.com".to_owned(),
            "AWS::NoValue" => NO_VALUE.to_owned(),
            _ => self
                .resources
                .get(name)
                .map(|p| p.reference.clone())
                .ok_or_else(|| Error::Unsupported(format!("Ref to unknown {name:?}")))?,
        }))
    }

    fn attribute(&self, resource: &str, attr: &str) -> Result<String, Error> {
        self.resources
            .get(resource)
            .and_then(|p| p.attributes.get(attr))
            .cloned()
            .ok_or_else(|| Error::Unsupported(format!("Fn::GetAtt {resource}.{attr}")))
    }

    fn sub(&self, arg: &Value) -> Result<String, Error> {
        let (text, vars) = match arg {
            Value::String(s) => (s.as_str(), BTreeMap::new()),
            Value::Array(a) if a.len() == 2 => {
                let text = a[0]
                    .as_str()
                    .ok_or_else(|| Error::Unsupported("Fn::Sub template".into()))?;
                let mut vars = BTreeMap::new();
                if let Value::Object(m) = &a[1] {
                    for (k, v) in m {
                        vars.insert(k.clone(), self.string_of(v)?);
                    }
                }
                (text, vars)
            }
            other => return Err(Error::Unsupported(format!("Fn::Sub {other}"))),
        };
        let mut out = String::new();
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            if let Some(literal) = after.strip_prefix('!') {
                // `${!Literal}` is the text `${Literal}`.
                out.push_str("${");
                rest = literal;
                continue;
            }
            let end = after
                .find('}')
                .ok_or_else(|| Error::Unsupported(format!("Fn::Sub {text:?}: unclosed ${{")))?;
            let name = &after[..end];
            let value = if let Some(v) = vars.get(name) {
                v.clone()
            } else if let Some((res, attr)) = name
                .split_once('.')
                .filter(|(r, _)| !r.starts_with("AWS::"))
            {
                self.attribute(res, attr)?
            } else {
                scalar_string(&self.reference(name)?)?
            };
            out.push_str(&value);
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }

    fn condition(&self, name: &str) -> Result<bool, Error> {
        self.conditions
            .get(name)
            .copied()
            .ok_or_else(|| Error::Unsupported(format!("unknown condition {name:?}")))
    }

    /// A condition expression (`Fn::Equals`, `Fn::Not`, `Fn::And`, `Fn::Or`, `Condition`).
    pub fn truth(&self, v: &Value) -> Result<bool, Error> {
        let Value::Object(map) = v else {
            return Err(Error::Unsupported(format!("condition {v}")));
        };
        let Some((k, arg)) = map.iter().next() else {
            return Err(Error::Unsupported("empty condition".into()));
        };
        let list = || match arg {
            Value::Array(a) => Ok(a),
            other => Err(Error::Unsupported(format!("{k} of {other}"))),
        };
        match k.as_str() {
            "Fn::Equals" => {
                let a = list()?;
                if a.len() != 2 {
                    return Err(Error::Unsupported("Fn::Equals takes two values".into()));
                }
                Ok(self.resolve(&a[0])? == self.resolve(&a[1])?)
            }
            "Fn::Not" => Ok(!self.truth(list()?.first().unwrap_or(&Value::Null))?),
            "Fn::And" => list()?
                .iter()
                .try_fold(true, |acc, c| Ok(acc & self.truth(c)?)),
            "Fn::Or" => list()?
                .iter()
                .try_fold(false, |acc, c| Ok(acc | self.truth(c)?)),
            "Condition" => self.condition(str_arg(k, arg)?),
            other => Err(Error::Unsupported(format!("condition function {other}"))),
        }
    }
}

fn is_no_value(v: &Value) -> bool {
    v.as_str() == Some(NO_VALUE)
}

fn strip_no_value(v: Value) -> Option<Value> {
    match v {
        Value::String(s) if s == NO_VALUE => None,
        Value::Array(items) => Some(Value::Array(
            items.into_iter().filter_map(strip_no_value).collect(),
        )),
        Value::Object(m) => Some(Value::Object(
            m.into_iter()
                .filter_map(|(k, v)| strip_no_value(v).map(|v| (k, v)))
                .collect(),
        )),
        other => Some(other),
    }
}

fn str_arg<'v>(f: &str, v: &'v Value) -> Result<&'v str, Error> {
    v.as_str()
        .ok_or_else(|| Error::Unsupported(format!("{f} takes a name, got {v}")))
}

fn array_arg<'v>(f: &str, v: &'v Value, n: usize) -> Result<&'v [Value], Error> {
    match v {
        Value::Array(a) if a.len() == n => Ok(a),
        other => Err(Error::Unsupported(format!(
            "{f} takes {n} arguments, got {other}"
        ))),
    }
}

fn scalar_string(v: &Value) -> Result<String, Error> {
    match v {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        other => Err(Error::Unsupported(format!(
            "expected a scalar, got {other}"
        ))),
    }
}

/// The logical id an `!Ref X` or `!GetAtt X.Attr` names, without resolving it.
pub(crate) fn logical_id(v: &Value) -> Option<&str> {
    let map = v.as_object()?;
    if map.len() != 1 {
        return None;
    }
    if let Some(r) = map.get("Ref") {
        return r.as_str();
    }
    match map.get("Fn::GetAtt")? {
        Value::Array(a) => a.first()?.as_str(),
        Value::String(s) => s.split('.').next(),
        _ => None,
    }
}
